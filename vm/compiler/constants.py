"""Constant folding, with the VM's rules, so a folded value is what the VM would compute; and
pushing a constant (small ints inline, others from the pool, wide ints computed).

A constant expression the VM would fault on (division by zero, overflow, a bad width) is a
compile error at its line, not a fault at run time.
"""

import ast

from chain.encoding import MAX_INT as MAX_CONST_INT
from chain.encoding import MIN_INT as MIN_CONST_INT
from chain.ledger.transactions import Value
from vm.compiler.frame import Frame
from vm.compiler.language import BUILTINS, COMPARE_OPS, INT_OPS, type_of
from vm.isa import INT_BITS, INT_MAX, INT_MIN, MAX_BYTES, MAX_CONSTS, MAX_SHIFT, Op


class ConstantFault(Exception):
    """A constant expression the VM would fault on; becomes a CompileError at its line."""


def _int_op(op: type[ast.operator], a: int, b: int) -> int:
    """The VM's result of `a op b`."""
    if op in (ast.FloorDiv, ast.Mod) and b == 0:
        raise ConstantFault("division by zero")
    if op is ast.Pow:
        if b < 0:
            raise ConstantFault("negative exponent")
        if abs(a) > 1 and b > INT_BITS:
            raise ConstantFault("result overflows the 256-bit int range")
    if op in (ast.LShift, ast.RShift) and not 0 <= b <= MAX_SHIFT:
        raise ConstantFault(f"shift count {b} is outside 0..{MAX_SHIFT}")
    result: int
    if op is ast.Add:
        result = a + b
    elif op is ast.Sub:
        result = a - b
    elif op is ast.Mult:
        result = a * b
    elif op is ast.FloorDiv:
        result = a // b
    elif op is ast.Mod:
        result = a % b
    elif op is ast.Pow:
        result = a**b
    elif op is ast.LShift:
        result = a << b
    elif op is ast.RShift:
        result = a >> b
    elif op is ast.BitAnd:
        result = a & b
    elif op is ast.BitOr:
        result = a | b
    else:
        result = a ^ b
    if not INT_MIN <= result <= INT_MAX:
        raise ConstantFault("result overflows the 256-bit int range")
    return result


def _compare(op: type[ast.cmpop], a: Value, b: Value) -> bool:
    if op is ast.Eq:
        return a == b
    if op is ast.NotEq:
        return a != b
    assert not isinstance(a, bool) and type(a) is type(b)
    if op is ast.Lt:
        return a < b  # type: ignore[operator]
    if op is ast.LtE:
        return a <= b  # type: ignore[operator]
    if op is ast.Gt:
        return a > b  # type: ignore[operator]
    return a >= b  # type: ignore[operator]


def _fold_builtin(name: str, args: list[Value]) -> Value | None:
    """A pure builtin applied to constants (None: not a pure builtin, or wrong argument types)."""
    kinds = tuple(type_of(a) for a in args)
    if name == "len" and len(args) == 1:
        arg = args[0]
        if isinstance(arg, str):
            return len(arg.encode())
        if isinstance(arg, bytes):
            return len(arg)
    builtin = BUILTINS.get(name)
    if builtin is None or builtin.host is not None or kinds != builtin.params:
        return None
    if name == "str":
        return str(args[0])
    if name == "bytes_of":
        return str(args[0]).encode()
    if name in ("min", "max"):
        ints = [int(a) for a in args]
        return min(ints) if name == "min" else max(ints)
    if name == "text_of":
        try:
            return bytes(args[0]).decode()  # type: ignore[arg-type]
        except UnicodeDecodeError:
            raise ConstantFault("text_of() of bytes that are not UTF-8") from None
    if name == "int_from_bytes":
        data = args[0]
        assert isinstance(data, bytes)
        if len(data) > 32:
            raise ConstantFault("int_from_bytes() of more than 32 bytes")
        return int.from_bytes(data, "big")
    number, width = int(args[0]), int(args[1])  # int_to_bytes
    if not 1 <= width <= 32:
        raise ConstantFault(f"int_to_bytes() width {width} is outside 1..32")
    if not 0 <= number < 256**width:
        raise ConstantFault(f"int_to_bytes() of {number} does not fit in {width} bytes")
    return number.to_bytes(width, "big")


class ConstantCompiler(Frame):
    """Folds constant expressions (memoized per node) and emits constants."""

    def fold(self, e: ast.expr) -> Value | None:
        """The value of a constant expression, or None; a constant the VM would fault on fails."""
        key = id(e)
        if key not in self.folded:
            self.folded[key] = self.fold_new(e)
        return self.folded[key]

    def fold_new(self, e: ast.expr) -> Value | None:
        if isinstance(e, ast.Constant):
            return self.literal(e)
        if isinstance(e, ast.Name):
            if e.id in self.local_names:
                return None
            if self.scope.kind(e.id) == "constant":
                return self.scope.consts[e.id]
            return None
        if isinstance(e, ast.UnaryOp):
            return self.fold_unary(e)
        if isinstance(e, ast.BinOp):
            return self.fold_binary(e)
        if isinstance(e, ast.BoolOp):
            values = [self.fold(v) for v in e.values]
            if not all(isinstance(v, bool) for v in values):
                return None
            return all(values) if isinstance(e.op, ast.And) else any(values)
        if isinstance(e, ast.Compare):
            return self.fold_compare(e)
        if isinstance(e, ast.Call):
            return self.fold_call(e)
        return None

    def literal(self, e: ast.Constant) -> Value | None:
        v = e.value
        if isinstance(v, bool):
            return v
        if isinstance(v, int):
            if not INT_MIN <= v <= INT_MAX:
                self.fail(e, "integer literal outside the 256-bit int range")
            return v
        if isinstance(v, bytes | str):
            try:
                size = len(v.encode() if isinstance(v, str) else v)
            except UnicodeEncodeError:
                self.fail(e, "a str literal must be valid text (it holds a lone surrogate)")
            if size > MAX_BYTES:
                self.fail(e, f"literal of {size} bytes is longer than {MAX_BYTES}")
            return v
        return None

    def fold_unary(self, e: ast.UnaryOp) -> Value | None:
        if isinstance(e.op, ast.USub):
            operand = e.operand
            if isinstance(operand, ast.Constant) and type(operand.value) is int:
                v: Value | None = operand.value  # so INT_MIN can be written as a literal
            else:
                v = self.fold(operand)
            if type(v) is not int:
                return None
            if not INT_MIN <= -v <= INT_MAX:
                self.fail(e, "constant expression: result overflows the 256-bit int range")
            return -v
        if isinstance(e.op, ast.Not):
            v = self.fold(e.operand)
            return (not v) if isinstance(v, bool) else None
        return None

    def fold_binary(self, e: ast.BinOp) -> Value | None:
        a = self.fold(e.left)
        if a is None:
            return None
        b = self.fold(e.right)
        if b is None:
            return None
        op = type(e.op)
        if type(a) is int and type(b) is int and op in INT_OPS:
            try:
                return _int_op(op, a, b)
            except ConstantFault as fault:
                self.fail(e, f"constant expression: {fault}")
        if op is ast.Add and type(a) is type(b) and isinstance(a, bytes | str):
            joined: bytes | str = a + b  # type: ignore[operator]
            size = len(joined.encode() if isinstance(joined, str) else joined)
            if size > MAX_BYTES:
                self.fail(e, f"constant expression: {size} bytes is longer than {MAX_BYTES}")
            return joined
        return None

    def fold_compare(self, e: ast.Compare) -> Value | None:
        values = [self.fold(v) for v in [e.left, *e.comparators]]
        if any(v is None for v in values) or len({type(v) for v in values}) != 1:
            return None
        ops = [type(op) for op in e.ops]
        if any(op not in COMPARE_OPS for op in ops):
            return None
        if isinstance(values[0], bool) and any(op not in (ast.Eq, ast.NotEq) for op in ops):
            return None
        return all(
            _compare(op, a, b)  # type: ignore[arg-type]
            for op, a, b in zip(ops, values, values[1:], strict=False)
        )

    def fold_call(self, e: ast.Call) -> Value | None:
        if not isinstance(e.func, ast.Name) or e.keywords or e.func.id in self.local_names:
            return None
        if self.scope.kind(e.func.id) is not None:
            return None
        args = [self.fold(a) for a in e.args]
        if any(a is None for a in args):
            return None
        try:
            return _fold_builtin(e.func.id, args)  # type: ignore[arg-type]
        except ConstantFault as fault:
            self.fail(e, f"constant expression: {fault}")

    def push(self, value: Value, node: ast.AST) -> None:
        if isinstance(value, bool):
            self.code.emit(Op.TRUE if value else Op.FALSE)
        elif isinstance(value, int):
            self.push_int(value, node)
        else:
            self.push_pooled(value, node)

    def push_int(self, value: int, node: ast.AST) -> None:
        if -128 <= value <= 127:
            self.code.emit(Op.SMALL, value)
        elif MIN_CONST_INT <= value <= MAX_CONST_INT:
            self.push_pooled(value, node)
        else:  # constants are 64-bit in the module format; wider ints are computed
            self.push_int(value >> 64, node)
            self.push_int(64, node)
            self.code.emit(Op.SHL)
            self.push_int(value & (2**64 - 1), node)
            self.code.emit(Op.ADD)

    def push_pooled(self, value: Value, node: ast.AST) -> None:
        index = self.scope.pool.add(value)
        if index >= MAX_CONSTS:
            self.fail(node, f"the module has more than {MAX_CONSTS} distinct constants")
        self.code.emit(Op.CONST, index)
