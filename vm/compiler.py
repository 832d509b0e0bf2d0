"""Compiler from a restricted, statically typed Python subset to VM bytecode (vm/isa.py).

Contracts are ordinary Python files (vm/lang.py makes them run as Python), so authors get their
editor, linter and type checker; the compiler accepts only what it can give one exact meaning on
chain and reports the first thing it cannot as "file:line: message". docs/contract-language.md is
the author's reference; this docstring only records the design.

- Every expression has one of the four value types, known at compile time; there are no implicit
  conversions and no truthiness, so the VM's dynamic kind checks never fire on compiled code.
- A local's type comes from its first assignment in source order. Python's scoping is kept: a name
  assigned anywhere in a function is local throughout, and a read must follow an assignment on
  every path (definite assignment, as in Java), so the VM never sees an unset local.
- Reachability and definite assignment are one state: `assigned is None` means the point cannot be
  reached. Unreachable statements are still type-checked, into a scratch buffer that is dropped.
- Code is a list of instructions and labels; a small peephole pass threads jumps, drops jumps to
  the next instruction and unreachable code, then the list is laid out (every jump is u16).
"""

import ast
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NoReturn

from chain.encoding import MAX_INT as MAX_CONST_INT
from chain.encoding import MIN_INT as MIN_CONST_INT
from chain.errors import GridchainError
from vm.errors import InvalidCode
from vm.isa import (
    IMM_I8,
    IMM_NONE,
    IMM_SIZE,
    IMM_U8,
    IMM_U16,
    INT_BITS,
    INT_MAX,
    INT_MIN,
    MAX_BYTES,
    MAX_CONSTS,
    MAX_EVENT_TOPIC,
    MAX_FUNCTION_CODE,
    MAX_FUNCTIONS,
    MAX_LOCALS,
    MAX_MODULE_SIZE,
    MAX_PARAMS,
    MAX_SHIFT,
    OPS,
    TYPE_NAMES,
    Function,
    Host,
    Module,
    Op,
    ValueType,
    encode_module,
)
from vm.validate import validate_module

Value = int | bool | bytes | str

INT, BOOL, BYTES, STR = ValueType.INT, ValueType.BOOL, ValueType.BYTES, ValueType.STR
TYPES_BY_NAME = {name: t for t, name in TYPE_NAMES.items()}
ZERO: dict[ValueType, Value] = {INT: 0, BOOL: False, BYTES: b"", STR: ""}

LANG_MODULES = ("gridchain_contract", "vm.lang")
LANG_EXPORTS = frozenset(
    {
        "Map",
        "public",
        "Final",
        "revert",
        "emit",
        "caller",
        "signer_count",
        "signer",
        "height",
        "now",
        "ed25519_verify",
        "hash32",
        "self_address",
        "value",
        "balance",
        "transfer",
        "key_address",
        "param",
        "int_from_bytes",
        "int_to_bytes",
        "bytes_of",
        "text_of",
    }
)


class CompileError(GridchainError):
    """A contract the compiler refuses; the message starts with "file:line: "."""

    code = "compile_error"

    def __init__(self, file: str, line: int, message: str) -> None:
        super().__init__(f"{file}:{line}: {message}")
        self.file = file
        self.line = line


# --- storage layout ------------------------------------------------------------------------------


def encode_map_key(key: Value) -> bytes:
    """A map key's bytes: bytes as is, str as UTF-8, int as its decimal text, bool as one byte."""
    if isinstance(key, bool):
        return b"\x01" if key else b"\x00"
    if isinstance(key, int):
        return str(key).encode()
    if isinstance(key, bytes):
        return key
    return key.encode()


def map_prefix(map_name: str) -> bytes:
    """Identifiers hold no ':', so the first ':' of a storage key ends the map's name."""
    return map_name.encode() + b":"


def map_key(map_name: str, key: Value) -> bytes:
    """The storage key of `map_name[key]`, for reading contract storage from outside."""
    return map_prefix(map_name) + encode_map_key(key)


# --- builtins ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Builtin:
    params: tuple[ValueType, ...]
    returns: ValueType | None
    op: Op
    host: Host | None = None


def _host(params: tuple[ValueType, ...], returns: ValueType | None, host: Host) -> Builtin:
    return Builtin(params, returns, Op.HOST, host)


BUILTINS: dict[str, Builtin] = {
    "emit": _host((STR, BYTES), None, Host.EMIT),
    "caller": _host((), BYTES, Host.CALLER),
    "signer_count": _host((), INT, Host.SIGNER_COUNT),
    "signer": _host((INT,), BYTES, Host.SIGNER),
    "height": _host((), INT, Host.HEIGHT),
    "now": _host((), INT, Host.TIME),
    "ed25519_verify": _host((BYTES, BYTES, BYTES), BOOL, Host.ED25519),
    "hash32": _host((BYTES,), BYTES, Host.HASH),
    "self_address": _host((), BYTES, Host.SELF),
    "value": _host((), INT, Host.VALUE),
    "balance": _host((BYTES,), INT, Host.BALANCE),
    "transfer": _host((BYTES, INT), None, Host.TRANSFER),
    "key_address": _host((BYTES,), BYTES, Host.KEY_ADDRESS),
    "param": _host((STR,), INT, Host.PARAM),
    "int_from_bytes": Builtin((BYTES,), INT, Op.BTOI),
    "int_to_bytes": Builtin((INT, INT), BYTES, Op.ITOB),
    "str": Builtin((INT,), STR, Op.ITOS),
    "bytes_of": Builtin((STR,), BYTES, Op.UTF8),
    "text_of": Builtin((BYTES,), STR, Op.TEXT),
    "min": Builtin((INT, INT), INT, Op.MIN),
    "max": Builtin((INT, INT), INT, Op.MAX),
}
SPECIAL_NAMES = frozenset({"revert", "len", "range", "Map", "public", "Final"})
RESERVED = frozenset(BUILTINS) | SPECIAL_NAMES | frozenset(TYPES_BY_NAME)
CONVERSION_HINTS = {
    "int": "int() is not supported; use int_from_bytes(b)",
    "bool": "bool() is not supported; compare explicitly, e.g. x != 0",
    "bytes": "bytes() is not supported; use bytes_of(s) or int_to_bytes(i, width)",
    "print": "print() is not available in contracts; use emit(topic, data)",
}

# --- operators -----------------------------------------------------------------------------------

INT_OPS: dict[type[ast.operator], tuple[str, Op]] = {
    ast.Add: ("+", Op.ADD),
    ast.Sub: ("-", Op.SUB),
    ast.Mult: ("*", Op.MUL),
    ast.FloorDiv: ("//", Op.DIV),
    ast.Mod: ("%", Op.MOD),
    ast.Pow: ("**", Op.POW),
    ast.LShift: ("<<", Op.SHL),
    ast.RShift: (">>", Op.SHR),
    ast.BitAnd: ("&", Op.BAND),
    ast.BitOr: ("|", Op.BOR),
    ast.BitXor: ("^", Op.BXOR),
}
COMPARE_OPS: dict[type[ast.cmpop], tuple[str, Op]] = {
    ast.Eq: ("==", Op.EQ),
    ast.NotEq: ("!=", Op.NE),
    ast.Lt: ("<", Op.LT),
    ast.LtE: ("<=", Op.LE),
    ast.Gt: (">", Op.GT),
    ast.GtE: (">=", Op.GE),
}

TOO_DEEP = "too deeply nested; split the expression or statement"
NEGATIVE_BOUND = "negative slice bounds are not supported; use len(b) - n"
UNSUPPORTED_EXPR: dict[type[ast.AST], str] = {
    ast.List: "lists are not supported",
    ast.Tuple: "tuples are not supported",
    ast.Dict: "dicts are not supported",
    ast.Set: "sets are not supported",
    ast.ListComp: "comprehensions are not supported",
    ast.SetComp: "comprehensions are not supported",
    ast.DictComp: "comprehensions are not supported",
    ast.GeneratorExp: "generator expressions are not supported",
    ast.Lambda: "lambdas are not supported",
    ast.JoinedStr: "f-strings are not supported; use + and str()",
    ast.FormattedValue: "f-strings are not supported; use + and str()",
    ast.NamedExpr: "assignment expressions (:=) are not supported",
    ast.Await: "await is not supported",
    ast.Yield: "generators (yield) are not supported",
    ast.YieldFrom: "generators (yield) are not supported",
    ast.Starred: "starred expressions are not supported",
    ast.Attribute: "attribute access is not supported",
    ast.Slice: "slices are only allowed inside [ ]",
}
UNSUPPORTED_STMT: dict[type[ast.AST], str] = {
    ast.ClassDef: "classes are not supported",
    ast.AsyncFunctionDef: "async functions are not supported",
    ast.Try: 'try/except is not supported; use assert or revert("...")',
    ast.TryStar: 'try/except is not supported; use assert or revert("...")',
    ast.Raise: 'raise is not supported; use revert("message")',
    ast.With: "with is not supported",
    ast.AsyncWith: "with is not supported",
    ast.AsyncFor: "async for is not supported",
    ast.Global: "global is not supported; module-level state lives in storage maps",
    ast.Nonlocal: "nonlocal is not supported",
    ast.Match: "match is not supported; use if/elif",
    ast.Import: "imports are only allowed at the top of the module",
    ast.ImportFrom: "imports are only allowed at the top of the module",
}


def type_of(value: Value) -> ValueType:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    return BYTES if isinstance(value, bytes) else STR


def _tn(t: ValueType) -> str:
    return TYPE_NAMES[t]


def _line(node: ast.AST) -> int:
    line: int = getattr(node, "lineno", 0)
    return line


# --- code buffer, peephole and layout ------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Label:
    """A jump target in one function's code (compared by identity)."""


@dataclass(frozen=True)
class Ins:
    op: Op
    arg: int | Label | None = None


Item = Ins | Label
JUMPS = frozenset({Op.JUMP, Op.JUMPT, Op.JUMPF})
EXITS = frozenset({Op.RET, Op.RETV, Op.REVERT})
MAX_PEEPHOLE_PASSES = 16


class Code:
    """Instructions and labels of one function, in order."""

    def __init__(self) -> None:
        self.items: list[Item] = []

    def emit(self, op: Op, arg: int | Label | None = None) -> None:
        self.items.append(Ins(op, arg))

    def place(self, label: Label) -> None:
        self.items.append(label)


def _first_ins(items: list[Item]) -> dict[Label, Ins | None]:
    """For each label, the instruction it lands on (None at the end of the code)."""
    found: dict[Label, Ins | None] = {}
    waiting: list[Label] = []
    for item in items:
        if isinstance(item, Label):
            waiting.append(item)
        else:
            for label in waiting:
                found[label] = item
            waiting = []
    for label in waiting:
        found[label] = None
    return found


def _thread_jumps(items: list[Item]) -> list[Item]:
    """A jump to a JUMP goes straight to its target; a JUMP to an exit becomes the exit."""
    first = _first_ins(items)
    out: list[Item] = []
    for item in items:
        if isinstance(item, Ins) and item.op in JUMPS and isinstance(item.arg, Label):
            target = item.arg
            seen = {target}
            while True:
                landing = first[target]
                if landing is None or landing.op is not Op.JUMP:
                    break
                assert isinstance(landing.arg, Label)
                if landing.arg in seen:
                    break
                target = landing.arg
                seen.add(target)
            landing = first[target]
            if item.op is Op.JUMP and landing is not None and landing.op in EXITS:
                item = landing
            else:
                item = Ins(item.op, target)
        out.append(item)
    return out


def _labels_before_next_ins(items: list[Item], i: int) -> set[Label]:
    found: set[Label] = set()
    for item in items[i + 1 :]:
        if not isinstance(item, Label):
            break
        found.add(item)
    return found


def _simplify_jumps(items: list[Item]) -> list[Item]:
    """Drop a jump to the next instruction; turn JUMPF L1; JUMP L2; L1: into JUMPT L2; L1:."""
    out: list[Item] = []
    i = 0
    while i < len(items):
        item = items[i]
        if isinstance(item, Ins) and item.op in JUMPS:
            if item.arg in _labels_before_next_ins(items, i):
                if item.op is not Op.JUMP:
                    out.append(Ins(Op.POP))
                i += 1
                continue
            nxt = items[i + 1] if i + 1 < len(items) else None
            if (
                item.op is not Op.JUMP
                and isinstance(nxt, Ins)
                and nxt.op is Op.JUMP
                and item.arg in _labels_before_next_ins(items, i + 1)
            ):
                flipped = Op.JUMPT if item.op is Op.JUMPF else Op.JUMPF
                out.append(Ins(flipped, nxt.arg))
                i += 2
                continue
        out.append(item)
        i += 1
    return out


def _drop_unreachable(items: list[Item]) -> list[Item]:
    """Remove labels nothing jumps to and code after an unconditional exit up to a live label."""
    used = {item.arg for item in items if isinstance(item, Ins) and item.op in JUMPS}
    out: list[Item] = []
    dead = False
    for item in items:
        if isinstance(item, Label):
            if item in used:
                dead = False
                out.append(item)
        elif not dead:
            out.append(item)
            dead = item.op is Op.JUMP or item.op in EXITS
    return out


def optimize(items: list[Item]) -> list[Item]:
    for _ in range(MAX_PEEPHOLE_PASSES):
        better = _drop_unreachable(_simplify_jumps(_thread_jumps(items)))
        if better == items:
            break
        items = better
    return items


def assemble(items: list[Item]) -> bytes:
    """Lay out instructions and resolve labels to byte offsets."""
    offsets: dict[Label, int] = {}
    size = 0
    for item in items:
        if isinstance(item, Label):
            offsets[item] = size
        else:
            size += 1 + IMM_SIZE[OPS[item.op].imm]
    out = bytearray()
    for item in items:
        if isinstance(item, Label):
            continue
        out.append(item.op)
        kind = OPS[item.op].imm
        arg = offsets[item.arg] if isinstance(item.arg, Label) else item.arg
        if kind == IMM_NONE:
            continue
        assert arg is not None
        assert not isinstance(item.arg, Label) or arg < size, "a jump past the end of the code"
        if kind == IMM_U16:
            out += arg.to_bytes(2, "big")
        elif kind == IMM_U8:
            out.append(arg)
        elif kind == IMM_I8:
            out += arg.to_bytes(1, "big", signed=True)
    return bytes(out)


# --- constant folding (with the VM's rules, so a folded value is what the VM would compute) ------


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


# --- module scope --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapDecl:
    name: str
    key: ValueType
    value: ValueType
    line: int

    @property
    def prefix(self) -> bytes:
        return map_prefix(self.name)


@dataclass(frozen=True)
class Signature:
    name: str
    index: int
    params: tuple[tuple[str, ValueType], ...]
    returns: ValueType | None
    public: bool
    line: int


@dataclass(frozen=True)
class Loop:
    """Jump targets of the innermost loop, and the assigned names at each reachable break."""

    brk: Label
    cont: Label
    breaks: list[set[str]] = field(default_factory=list)


class ConstPool:
    """The module's constants, each stored once (bool kept apart from int)."""

    def __init__(self) -> None:
        self.values: list[Value] = []
        self.index: dict[tuple[type, Value], int] = {}

    def add(self, value: Value) -> int:
        key = (type(value), value)
        if key not in self.index:
            self.index[key] = len(self.values)
            self.values.append(value)
        return self.index[key]


class Scope:
    """Module-level names: constants, storage maps, functions; and declarations that failed."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.consts: dict[str, Value] = {}
        self.maps: dict[str, MapDecl] = {}
        self.functions: dict[str, Signature] = {}
        self.lines: dict[str, int] = {}
        self.broken: dict[str, CompileError] = {}
        self.pool = ConstPool()

    def kind(self, name: str) -> str | None:
        if name in self.broken:
            raise self.broken[name]
        if name in self.consts:
            return "constant"
        if name in self.maps:
            return "storage map"
        if name in self.functions:
            return "function"
        return None


class Compiler:
    """Compiles one function body (or, with no body, checks one module-level expression)."""

    def __init__(self, scope: Scope, sig: Signature, local_names: frozenset[str]) -> None:
        self.scope = scope
        self.sig = sig
        self.code = Code()
        self.local_names = local_names | {p for p, _ in sig.params}
        self.slots: dict[str, int] = {}
        self.types: dict[str, tuple[ValueType, int]] = {}
        for i, (name, t) in enumerate(sig.params):
            self.slots[name] = i
            self.types[name] = (t, sig.line)
        self.next_slot = len(sig.params)
        self.free_temps: list[int] = []
        self.assigned: set[str] | None = {p for p, _ in sig.params}
        self.loops: list[Loop] = []
        self.folded: dict[int, Value | None] = {}  # by id() of nodes of the live tree

    def fail(self, node: ast.AST, message: str) -> NoReturn:
        raise CompileError(self.scope.file, _line(node), message)

    # --- slots and scratch buffers ---

    def new_slot(self, node: ast.AST) -> int:
        if self.next_slot >= MAX_LOCALS:
            self.fail(node, f"{self.sig.name}() needs more than {MAX_LOCALS} local variables")
        self.next_slot += 1
        return self.next_slot - 1

    def temp(self, node: ast.AST) -> int:
        return self.free_temps.pop() if self.free_temps else self.new_slot(node)

    @contextmanager
    def scratch(self, dead: bool) -> Iterator[None]:
        """Type-check without keeping the code: unreachable code, or a loop test seen early."""
        code, assigned = self.code, self.assigned
        self.code = Code()
        if dead:
            self.assigned = None
        try:
            yield
        finally:
            self.code, self.assigned = code, assigned

    # --- constants ---

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

    # --- expressions ---

    def expr(self, e: ast.expr) -> ValueType:
        """Emit code leaving the value of `e` on the stack; return its type."""
        folded = self.fold(e)
        if folded is not None:
            self.push(folded, e)
            return type_of(folded)
        if isinstance(e, ast.Constant):
            self.constant_error(e)
        if isinstance(e, ast.Name):
            return self.load_name(e.id, e)
        if isinstance(e, ast.BinOp):
            return self.binary(e)
        if isinstance(e, ast.UnaryOp):
            return self.unary(e)
        if isinstance(e, ast.BoolOp):
            return self.bool_op(e)
        if isinstance(e, ast.Compare):
            return self.compare_value(e)
        if isinstance(e, ast.IfExp):
            return self.if_exp(e)
        if isinstance(e, ast.Subscript):
            return self.subscript(e)
        if isinstance(e, ast.Call):
            t = self.call(e, statement=False)
            if t is None:
                self.fail(
                    e, f"{ast.unparse(e.func)}() returns nothing; it cannot be used as a value"
                )
            return t
        self.fail(e, UNSUPPORTED_EXPR.get(type(e), f"{type(e).__name__} is not supported"))

    def constant_error(self, e: ast.Constant) -> NoReturn:
        if isinstance(e.value, float):
            self.fail(e, "floats are not allowed")
        if isinstance(e.value, complex):
            self.fail(e, "complex numbers are not allowed")
        if e.value is None:
            self.fail(e, "None is not a value in contracts")
        self.fail(e, f"{ast.unparse(e)} is not supported")

    def expect(self, e: ast.expr, want: ValueType, what: str) -> None:
        t = self.expr(e)
        if t != want:
            self.fail(e, f"{what} must be {_tn(want)}, got {_tn(t)}")

    def load_name(self, name: str, node: ast.AST) -> ValueType:
        if name in self.local_names:
            if name not in self.types:
                self.fail(node, f"{name} is used before it is assigned")
            if self.assigned is not None and name not in self.assigned:
                self.fail(node, f"{name} may be used before it is assigned (not set on every path)")
            self.code.emit(Op.LOAD, self.slots[name])
            return self.types[name][0]
        kind = self.scope.kind(name)
        if kind == "storage map":
            self.fail(node, f"storage map {name} is not a value; use {name}[key]")
        if kind == "function":
            self.fail(node, f"function {name} is not a value; call it")
        if name in RESERVED:
            self.fail(node, f"{name} is a builtin, not a value")
        self.fail(node, f"undefined name {name}")

    def binary(self, e: ast.BinOp) -> ValueType:
        self.check_operator(e, e.op, "")
        left = self.expr(e.left)
        right = self.expr(e.right)
        return self.arith(e, e.op, left, right, "")

    def check_operator(self, node: ast.AST, op: ast.operator, suffix: str) -> None:
        if isinstance(op, ast.Div):
            self.fail(node, f"true division '/{suffix}' is not supported; use '//{suffix}'")
        if isinstance(op, ast.MatMult):
            self.fail(node, f"'@{suffix}' is not supported")

    def arith(
        self, node: ast.AST, op: ast.operator, left: ValueType, right: ValueType, suffix: str
    ) -> ValueType:
        symbol, code = INT_OPS[type(op)]
        if left == INT and right == INT:
            self.code.emit(code)
            return INT
        if isinstance(op, ast.Add) and left == right and left in (BYTES, STR):
            self.code.emit(Op.CONCAT)
            return left
        self.fail(
            node, f"unsupported operand types for {symbol}{suffix}: {_tn(left)} and {_tn(right)}"
        )

    def unary(self, e: ast.UnaryOp) -> ValueType:
        if isinstance(e.op, ast.USub):
            self.expect(e.operand, INT, "the operand of unary '-'")
            self.code.emit(Op.NEG)
            return INT
        if isinstance(e.op, ast.Not):
            t = self.expr(e.operand)
            if t != BOOL:
                self.fail(e, f"'not' needs a bool, got {_tn(t)} (compare explicitly, e.g. x != 0)")
            self.code.emit(Op.NOT)
            return BOOL
        if isinstance(e.op, ast.Invert):
            self.fail(e, "'~' is not supported; use -x - 1")
        self.fail(e, "unary '+' is not supported")

    def bool_op(self, e: ast.BoolOp) -> ValueType:
        word = "and" if isinstance(e.op, ast.And) else "or"
        jump = Op.JUMPF if isinstance(e.op, ast.And) else Op.JUMPT
        end = Label()
        for i, v in enumerate(e.values):
            t = self.expr(v)
            if t != BOOL:
                self.fail(v, f"'{word}' needs bool operands, got {_tn(t)}")
            if i < len(e.values) - 1:
                self.code.emit(Op.DUP)
                self.code.emit(jump, end)
                self.code.emit(Op.POP)
        self.code.place(end)
        return BOOL

    def compare_check(self, node: ast.AST, op: ast.cmpop, left: ValueType, right: ValueType) -> Op:
        symbol, code = COMPARE_OPS[type(op)]
        if left != right:
            self.fail(node, f"cannot compare {_tn(left)} with {_tn(right)} using {symbol}")
        if left == BOOL and code not in (Op.EQ, Op.NE):
            self.fail(node, f"bool values cannot be ordered with {symbol}")
        return code

    def compare_ops(self, e: ast.Compare) -> None:
        for op in e.ops:
            if isinstance(op, ast.Is | ast.IsNot):
                self.fail(e, "'is' is not supported; use '=='")
            if isinstance(op, ast.In | ast.NotIn) and len(e.ops) > 1:
                self.fail(e, "'in' cannot be chained with other comparisons")

    def membership(self, e: ast.Compare) -> bool:
        """Emit `key in map` (SHAS) for a membership test; return True for 'not in'."""
        target = e.comparators[0]
        decl = self.map_named(target)
        if decl is None:
            self.fail(e, "'in' is only supported on storage maps")
        self.map_key(decl, e.left)
        self.code.emit(Op.HOST, Host.SHAS)
        return isinstance(e.ops[0], ast.NotIn)

    def chain_operand(self, e: ast.expr, last: bool) -> Callable[[], object] | None:
        """Keep a middle operand of a chained comparison for its second use (evaluated once)."""
        if last:
            return None
        if self.fold(e) is not None or (isinstance(e, ast.Name) and e.id in self.local_names):
            return lambda: self.expr(e)
        slot = self.temp(e)
        self.code.emit(Op.DUP)
        self.code.emit(Op.STORE, slot)

        def reload() -> None:
            self.code.emit(Op.LOAD, slot)
            self.free_temps.append(slot)

        return reload

    def compare_value(self, e: ast.Compare) -> ValueType:
        self.compare_ops(e)
        if isinstance(e.ops[0], ast.In | ast.NotIn):
            if self.membership(e):
                self.code.emit(Op.NOT)
            return BOOL
        end = Label()
        left = self.expr(e.left)
        for i, (op, right_node) in enumerate(zip(e.ops, e.comparators, strict=True)):
            last = i == len(e.ops) - 1
            right = self.expr(right_node)
            reload = self.chain_operand(right_node, last)
            self.code.emit(self.compare_check(e, op, left, right))
            if reload is not None:
                self.code.emit(Op.DUP)
                self.code.emit(Op.JUMPF, end)
                self.code.emit(Op.POP)
                reload()
            left = right
        self.code.place(end)
        return BOOL

    def if_exp(self, e: ast.IfExp) -> ValueType:
        other, end = Label(), Label()
        self.branch(e.test, other, False)
        a = self.expr(e.body)
        self.code.emit(Op.JUMP, end)
        self.code.place(other)
        b = self.expr(e.orelse)
        self.code.place(end)
        if a != b:
            self.fail(e, f"both sides of 'if'/'else' must have one type, got {_tn(a)} and {_tn(b)}")
        return a

    def map_named(self, e: ast.expr) -> MapDecl | None:
        if not isinstance(e, ast.Name) or e.id in self.local_names:
            return None
        return self.scope.maps[e.id] if self.scope.kind(e.id) == "storage map" else None

    def map_key(self, decl: MapDecl, key: ast.expr) -> None:
        """Push the storage key of decl[key]: the map's prefix and the encoded key."""
        if isinstance(key, ast.Slice):
            self.fail(key, f"storage map {decl.name} cannot be sliced")
        folded = self.fold(key)
        if folded is not None:
            if type_of(folded) != decl.key:
                self.fail(
                    key, f"keys of {decl.name} are {_tn(decl.key)}, got {_tn(type_of(folded))}"
                )
            self.push(decl.prefix + encode_map_key(folded), key)
            return
        if decl.key == BOOL:
            false, end = Label(), Label()
            self.branch(key, false, False, what=f"a key of {decl.name}")
            self.push(decl.prefix + b"\x01", key)
            self.code.emit(Op.JUMP, end)
            self.code.place(false)
            self.push(decl.prefix + b"\x00", key)
            self.code.place(end)
            return
        self.push(decl.prefix, key)
        self.expect(key, decl.key, f"a key of {decl.name}")
        if decl.key == INT:
            self.code.emit(Op.ITOS)
        if decl.key != BYTES:
            self.code.emit(Op.UTF8)
        self.code.emit(Op.CONCAT)

    def subscript(self, e: ast.Subscript) -> ValueType:
        decl = self.map_named(e.value)
        if decl is not None:
            self.map_key(decl, e.slice)
            self.push(ZERO[decl.value], e)
            self.code.emit(Op.HOST, Host.SLOAD)
            return decl.value
        if isinstance(e.slice, ast.Slice):
            return self.slice(e, e.slice)
        t = self.expr(e.value)
        if t == STR:
            self.fail(e, "indexing str is not supported; slice it: s[i:i + 1]")
        if t != BYTES:
            self.fail(e, f"{_tn(t)} cannot be indexed")
        self.index_operand(
            e.slice, "an index", "negative indexes are not supported; use b[len(b) - n]"
        )
        self.code.emit(Op.INDEX)
        return INT

    def index_operand(self, e: ast.expr, what: str, negative: str) -> None:
        folded = self.fold(e)
        if type(folded) is int and folded < 0:
            self.fail(e, negative)
        self.expect(e, INT, what)

    def slice(self, e: ast.Subscript, s: ast.Slice) -> ValueType:
        if s.step is not None:
            self.fail(e, "slice steps are not supported")
        t = self.expr(e.value)
        if t not in (BYTES, STR):
            self.fail(e, f"{_tn(t)} cannot be sliced")
        if s.lower is None and s.upper is None:
            return t
        if s.lower is None:
            self.code.emit(Op.SMALL, 0)
        else:
            self.index_operand(s.lower, "a slice bound", NEGATIVE_BOUND)
        if s.upper is None:
            self.code.emit(Op.OVER)
            self.code.emit(Op.LEN)
        else:
            self.index_operand(s.upper, "a slice bound", NEGATIVE_BOUND)
        self.code.emit(Op.SLICE)
        return t

    # --- calls ---

    def call(self, e: ast.Call, statement: bool) -> ValueType | None:
        """Emit a call; return its result type (None: nothing). revert() only as a statement."""
        if e.keywords:
            self.fail(e, "keyword arguments are not supported")
        for a in e.args:
            if isinstance(a, ast.Starred):
                self.fail(a, "starred arguments are not supported")
        func = e.func
        if isinstance(func, ast.Attribute):
            return self.method(e, func)
        if not isinstance(func, ast.Name):
            self.fail(e, "only functions and builtins can be called")
        name = func.id
        if name in self.local_names:
            self.fail(e, f"{name} is a local variable, not a function")
        kind = self.scope.kind(name)
        if kind == "function":
            sig = self.scope.functions[name]
            self.arguments(e, name, tuple(t for _, t in sig.params))
            self.code.emit(Op.CALL, sig.index)
            return sig.returns
        if kind is not None:
            self.fail(e, f"{kind} {name} is not a function")
        if name == "revert":
            if not statement:
                self.fail(e, "revert() never returns; use it as a statement")
            self.arguments(e, name, (STR,))
            self.code.emit(Op.REVERT)
            return None
        if name == "len":
            if len(e.args) != 1:
                self.fail(e, f"len() takes 1 argument, got {len(e.args)}")
            t = self.expr(e.args[0])
            if t not in (BYTES, STR):
                self.fail(e.args[0], f"len() needs bytes or str, got {_tn(t)}")
            self.code.emit(Op.LEN)
            return INT
        builtin = BUILTINS.get(name)
        if builtin is not None:
            if name == "emit" and len(e.args) == 2:
                self.event_topic(e.args[0])
            self.arguments(e, name, builtin.params)
            self.code.emit(builtin.op, None if builtin.host is None else int(builtin.host))
            return builtin.returns
        if name == "range":
            self.fail(e, "range() can only be used in a for loop")
        if name == "Map":
            self.fail(e, "storage maps must be declared at module level")
        if name in CONVERSION_HINTS:
            self.fail(e, CONVERSION_HINTS[name])
        self.fail(e, f"undefined name {name}")

    def event_topic(self, e: ast.expr) -> None:
        topic = self.fold(e)
        if isinstance(topic, str) and len(topic.encode()) > MAX_EVENT_TOPIC:
            self.fail(e, f"an event topic is at most {MAX_EVENT_TOPIC} bytes")

    def arguments(self, e: ast.Call, name: str, params: tuple[ValueType, ...]) -> None:
        if len(e.args) != len(params):
            s = "" if len(params) == 1 else "s"
            self.fail(e, f"{name}() takes {len(params)} argument{s}, got {len(e.args)}")
        for i, (a, want) in enumerate(zip(e.args, params, strict=True)):
            t = self.expr(a)
            if t != want and name == "str":
                hint = "; use text_of(b) to decode bytes" if t == BYTES else ""
                self.fail(a, f"str() takes an int, got {_tn(t)}{hint}")
            if t != want:
                self.fail(a, f"argument {i + 1} of {name}() must be {_tn(want)}, got {_tn(t)}")

    def method(self, e: ast.Call, func: ast.Attribute) -> ValueType:
        decl = self.map_named(func.value)
        if decl is None:
            self.fail(e, "method calls are not supported")
        if func.attr != "get":
            self.fail(e, f"storage maps have no method {func.attr}(); use get(), in, del and [ ]")
        if len(e.args) != 2:
            self.fail(
                e, f"{decl.name}.get() takes a key and a default, got {len(e.args)} arguments"
            )
        self.map_key(decl, e.args[0])
        self.expect(e.args[1], decl.value, f"the default of {decl.name}.get()")
        self.code.emit(Op.HOST, Host.SLOAD)
        return decl.value

    # --- conditions ---

    def branch(self, e: ast.expr, target: Label, when: bool, what: str = "a condition") -> None:
        """Jump to `target` if bool `e` is `when`, else fall through (short-circuit and/or)."""
        folded = self.fold(e)
        if folded is not None:
            if not isinstance(folded, bool):
                self.fail(e, f"{what} must be bool, got {_tn(type_of(folded))}")
            if folded == when:
                self.code.emit(Op.JUMP, target)
            return
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Not):
            self.branch(e.operand, target, not when, "the operand of 'not'")
            return
        if isinstance(e, ast.BoolOp):
            word = "and" if isinstance(e.op, ast.And) else "or"
            stop = isinstance(e.op, ast.Or)  # the operand value that decides the whole
            if when == stop:
                for v in e.values:
                    self.branch(v, target, when, f"an operand of '{word}'")
                return
            skip = Label()
            for v in e.values[:-1]:
                self.branch(v, skip, stop, f"an operand of '{word}'")
            self.branch(e.values[-1], target, when, f"an operand of '{word}'")
            self.code.place(skip)
            return
        if isinstance(e, ast.Compare):
            self.compare_branch(e, target, when)
            return
        t = self.expr(e)
        if t != BOOL:
            self.fail(e, f"{what} must be bool, got {_tn(t)} (compare explicitly, e.g. x != 0)")
        self.code.emit(Op.JUMPT if when else Op.JUMPF, target)

    def compare_branch(self, e: ast.Compare, target: Label, when: bool) -> None:
        self.compare_ops(e)
        if isinstance(e.ops[0], ast.In | ast.NotIn):
            negated = self.membership(e)
            self.code.emit(Op.JUMPT if when != negated else Op.JUMPF, target)
            return
        skip = Label()
        left = self.expr(e.left)
        for i, (op, right_node) in enumerate(zip(e.ops, e.comparators, strict=True)):
            last = i == len(e.ops) - 1
            right = self.expr(right_node)
            reload = self.chain_operand(right_node, last)
            self.code.emit(self.compare_check(e, op, left, right))
            if reload is None:
                self.code.emit(Op.JUMPT if when else Op.JUMPF, target)
            else:
                self.code.emit(Op.JUMPF, skip if when else target)
                reload()
            left = right
        self.code.place(skip)

    # --- statements ---

    def block(self, body: list[ast.stmt]) -> None:
        for s in body:
            if self.assigned is None:
                with self.scratch(dead=True):
                    self.stmt(s)
            else:
                self.stmt(s)

    def stmt(self, s: ast.stmt) -> None:
        if isinstance(s, ast.Expr):
            self.expr_stmt(s)
        elif isinstance(s, ast.Pass):
            pass
        elif isinstance(s, ast.Assign):
            self.assign(s)
        elif isinstance(s, ast.AnnAssign):
            self.ann_assign(s)
        elif isinstance(s, ast.AugAssign):
            self.aug_assign(s)
        elif isinstance(s, ast.Return):
            self.return_(s)
        elif isinstance(s, ast.If):
            self.if_(s)
        elif isinstance(s, ast.While):
            self.while_(s)
        elif isinstance(s, ast.For):
            self.for_(s)
        elif isinstance(s, ast.Break | ast.Continue):
            self.jump_out(s)
        elif isinstance(s, ast.Assert):
            self.assert_stmt(s)
        elif isinstance(s, ast.Delete):
            self.delete(s)
        elif isinstance(s, ast.FunctionDef):
            self.fail(s, "nested functions are not supported")
        else:
            self.fail(s, UNSUPPORTED_STMT.get(type(s), f"{type(s).__name__} is not supported"))

    def expr_stmt(self, s: ast.Expr) -> None:
        e = s.value
        if isinstance(e, ast.Constant) and isinstance(e.value, str):
            return  # a docstring or a comment string
        if not isinstance(e, ast.Call):
            with self.scratch(dead=False):
                self.expr(e)  # its own errors first
            self.fail(s, "this expression does nothing; only calls can stand alone")
        returns = self.call(e, statement=True)
        if returns is not None:
            self.code.emit(Op.POP)
        if isinstance(e.func, ast.Name) and e.func.id == "revert":
            self.assigned = None

    def define(self, name: str, t: ValueType, node: ast.AST, declared: ValueType | None) -> int:
        """The slot of local `name`, after checking `t` against its type (set here if new)."""
        if name in self.types:
            have, line = self.types[name]
            if declared is not None and declared != have:
                self.fail(
                    node, f"{name} is {_tn(have)} (line {line}); cannot declare it {_tn(declared)}"
                )
            if t != have:
                self.fail(
                    node, f"{name} is {_tn(have)} (line {line}); cannot assign {_tn(t)} to it"
                )
        else:
            if declared is not None and t != declared:
                self.fail(node, f"cannot assign {_tn(t)} to {name}: {_tn(declared)}")
            self.types[name] = (t, _line(node))
            self.slots[name] = self.new_slot(node)
        if self.assigned is not None:
            self.assigned.add(name)
        return self.slots[name]

    def assignable(self, name: str, node: ast.AST) -> None:
        if name in self.local_names:
            return
        kind = self.scope.kind(name)
        if kind == "storage map":
            self.fail(node, f"cannot assign to storage map {name}; assign to an item: {name}[key]")
        self.fail(node, f"cannot assign to {kind} {name}")

    def assign(self, s: ast.Assign) -> None:
        if len(s.targets) != 1:
            self.fail(s, "chained assignment (a = b = ...) is not supported")
        self.assign_to(s.targets[0], s.value, s, None)

    def ann_assign(self, s: ast.AnnAssign) -> None:
        if s.value is None:
            self.fail(s, "a local needs a value: name: type = value")
        if not isinstance(s.target, ast.Name):
            self.fail(s, "only plain names can be annotated")
        self.assign_to(s.target, s.value, s, self.annotation(s.annotation))

    def annotation(self, e: ast.expr) -> ValueType:
        if isinstance(e, ast.Name) and e.id in TYPES_BY_NAME:
            return TYPES_BY_NAME[e.id]
        self.fail(e, f"unsupported type {ast.unparse(e)}; use int, bool, bytes or str")

    def assign_to(
        self, target: ast.expr, value: ast.expr, s: ast.stmt, declared: ValueType | None
    ) -> None:
        if isinstance(target, ast.Name):
            name = target.id
            self.assignable(name, s)
            t = self.expr(value)
            slot = self.define(name, t, s, declared)
            self.code.emit(Op.STORE, slot)
            return
        if isinstance(target, ast.Subscript):
            self.assign_item(target, value)
            return
        if isinstance(target, ast.Tuple | ast.List):
            self.fail(s, "tuple assignment is not supported; assign one name at a time")
        if isinstance(target, ast.Attribute):
            self.fail(s, "attribute assignment is not supported")
        self.fail(s, "cannot assign to this expression")

    def item_map(self, target: ast.Subscript) -> MapDecl:
        decl = self.map_named(target.value)
        if decl is None:
            with self.scratch(dead=False):
                t = self.expr(target.value)
            self.fail(target, f"{_tn(t)} values are immutable; only storage map items can be set")
        return decl

    def is_simple(self, e: ast.expr) -> bool:
        """Evaluating `e` cannot fail or have effects, so evaluation order does not matter."""
        return self.fold(e) is not None or (isinstance(e, ast.Name) and e.id in self.local_names)

    def assign_item(self, target: ast.Subscript, value: ast.expr) -> None:
        decl = self.item_map(target)
        what = f"a value stored in {decl.name}"
        if self.is_simple(value) or self.is_simple(target.slice):
            self.map_key(decl, target.slice)
            self.expect(value, decl.value, what)
        else:  # Python evaluates the value before the key
            self.expect(value, decl.value, what)
            slot = self.temp(value)
            self.code.emit(Op.STORE, slot)
            self.map_key(decl, target.slice)
            self.code.emit(Op.LOAD, slot)
            self.free_temps.append(slot)
        self.code.emit(Op.HOST, Host.SSTORE)

    def aug_assign(self, s: ast.AugAssign) -> None:
        self.check_operator(s, s.op, "=")
        target = s.target
        if isinstance(target, ast.Name):
            self.assignable(target.id, s)
            left = self.load_name(target.id, target)
            right = self.expr(s.value)
            slot = self.define(target.id, self.arith(s, s.op, left, right, "="), s, None)
            self.code.emit(Op.STORE, slot)
            return
        if not isinstance(target, ast.Subscript):
            self.fail(s, "cannot assign to this expression")
        decl = self.item_map(target)
        self.map_key(decl, target.slice)
        self.code.emit(Op.DUP)
        self.push(ZERO[decl.value], s)
        self.code.emit(Op.HOST, Host.SLOAD)
        right = self.expr(s.value)
        self.arith(s, s.op, decl.value, right, "=")
        self.code.emit(Op.HOST, Host.SSTORE)

    def delete(self, s: ast.Delete) -> None:
        for target in s.targets:
            decl = self.map_named(target.value) if isinstance(target, ast.Subscript) else None
            if decl is None or not isinstance(target, ast.Subscript):
                self.fail(s, "del only removes storage map items: del m[key]")
            self.map_key(decl, target.slice)
            self.code.emit(Op.HOST, Host.SDEL)

    def return_(self, s: ast.Return) -> None:
        name, returns = self.sig.name, self.sig.returns
        bare = s.value is None or (isinstance(s.value, ast.Constant) and s.value.value is None)
        if bare:
            if returns is not None:
                self.fail(s, f"{name}() must return {_tn(returns)}")
            self.code.emit(Op.RETV)
        else:
            assert s.value is not None
            if returns is None:
                self.fail(s, f"{name}() is declared -> None; it cannot return a value")
            self.expect(s.value, returns, f"the return value of {name}()")
            self.code.emit(Op.RET)
        self.assigned = None

    def jump_out(self, s: ast.Break | ast.Continue) -> None:
        word = "break" if isinstance(s, ast.Break) else "continue"
        if not self.loops:
            self.fail(s, f"'{word}' outside loop")
        loop = self.loops[-1]
        if self.assigned is not None and isinstance(s, ast.Break):
            loop.breaks.append(set(self.assigned))
        self.code.emit(Op.JUMP, loop.brk if isinstance(s, ast.Break) else loop.cont)
        self.assigned = None

    def condition_constant(self, e: ast.expr) -> bool | None:
        folded = self.fold(e)
        if folded is not None and not isinstance(folded, bool):
            self.fail(e, f"a condition must be bool, got {_tn(type_of(folded))}")
        return folded

    def if_(self, s: ast.If) -> None:
        entry = self.assigned
        constant = self.condition_constant(s.test)
        if constant is not None:  # emit the live branch; only type-check the other
            live_end: set[str] | None = None
            for body, live in ((s.body, constant), (s.orelse, not constant)):
                if live:
                    self.assigned = _copy(entry)
                    self.block(body)
                    live_end = self.assigned
                else:
                    with self.scratch(dead=True):
                        self.block(body)
            self.assigned = live_end
            return
        other, end = Label(), Label()
        self.branch(s.test, other, False)
        self.assigned = _copy(entry)
        self.block(s.body)
        then_end = self.assigned
        if s.orelse:
            if then_end is not None:
                self.code.emit(Op.JUMP, end)
            self.code.place(other)
            self.assigned = _copy(entry)
            self.block(s.orelse)
            self.code.place(end)
            self.assigned = _join(then_end, self.assigned)
        else:
            self.code.place(other)
            self.assigned = _join(then_end, _copy(entry))

    def loop_body(self, loop: Loop, body: list[ast.stmt], entry: set[str] | None) -> None:
        self.loops.append(loop)
        self.assigned = entry
        self.block(body)
        self.loops.pop()

    def while_(self, s: ast.While) -> None:
        """Test at the bottom: one jump per iteration; `while True` has no test at all."""
        if s.orelse:
            self.fail(s, "while/else is not supported")
        entry = self.assigned
        constant = self.condition_constant(s.test)
        top = Label()
        loop = Loop(brk=Label(), cont=top if constant is True else Label())
        if constant is False:
            with self.scratch(dead=True):
                self.loop_body(loop, s.body, None)
            return
        with self.scratch(dead=False):  # errors in the test come before those in the body
            self.branch(s.test, Label(), True)
        if constant is not True:
            self.code.emit(Op.JUMP, loop.cont)
        self.code.place(top)
        self.loop_body(loop, s.body, _copy(entry))
        if constant is True:
            self.code.emit(Op.JUMP, top)
            self.code.place(loop.brk)
            self.assigned = _meet(loop.breaks)
            return
        self.code.place(loop.cont)
        self.assigned = _copy(entry)
        self.branch(s.test, top, True)
        self.code.place(loop.brk)
        self.assigned = entry

    def for_(self, s: ast.For) -> None:
        """range() loops: arguments evaluated once, test at the bottom, constant step."""
        if s.orelse:
            self.fail(s, "for/else is not supported")
        if not isinstance(s.target, ast.Name):
            self.fail(s, "the loop variable must be a plain name")
        it = s.iter
        if not (
            isinstance(it, ast.Call)
            and isinstance(it.func, ast.Name)
            and it.func.id == "range"
            and "range" not in self.local_names
        ):
            self.fail(s, "for loops only iterate over range(...)")
        if it.keywords:
            self.fail(it, "keyword arguments are not supported")
        if not 1 <= len(it.args) <= 3:
            self.fail(it, f"range() takes 1 to 3 arguments, got {len(it.args)}")
        step = 1
        if len(it.args) == 3:
            folded = self.fold(it.args[2])
            if type(folded) is not int or folded == 0:
                self.fail(it.args[2], "range() step must be a constant non-zero int")
            step = folded
        name = s.target.id
        self.assignable(name, s)
        entry = _copy(self.assigned)
        stored = _stored_names(s.body)
        # The variable itself counts unless the body sets it or it was set before the loop (then
        # code after the loop may read it, and must see the last value, not the bound).
        reuse = (entry is None or name not in entry) and name not in stored
        if len(it.args) == 1:
            self.code.emit(Op.SMALL, 0)
        else:
            self.expect(it.args[0], INT, "range() start")
        stop = it.args[1] if len(it.args) > 1 else it.args[0]
        if name in self.types and self.types[name][0] != INT:
            have, line = self.types[name]
            self.fail(s, f"{name} is {_tn(have)} (line {line}); range() gives int")
        slot = self.define(name, INT, s, None)
        counter = slot if reuse else self.temp(s)
        self.code.emit(Op.STORE, counter)
        load_stop, bound = self.loop_bound(stop, name, stored)
        top, check = Label(), Label()
        loop = Loop(brk=Label(), cont=Label())
        self.code.emit(Op.JUMP, check)
        self.code.place(top)
        if not reuse:
            self.code.emit(Op.LOAD, counter)
            self.code.emit(Op.STORE, slot)
        self.loop_body(loop, s.body, None if entry is None else entry | {name})
        self.code.place(loop.cont)
        self.code.emit(Op.LOAD, counter)
        self.push_int(step, s)
        self.code.emit(Op.ADD)
        self.code.emit(Op.STORE, counter)
        self.code.place(check)
        self.code.emit(Op.LOAD, counter)
        load_stop()
        self.code.emit(Op.LT if step > 0 else Op.GT)
        self.code.emit(Op.JUMPT, top)
        self.code.place(loop.brk)
        self.free_temps += [t for t in (None if reuse else counter, bound) if t is not None]
        self.assigned = entry

    def loop_bound(
        self, stop: ast.expr, name: str, stored: set[str]
    ) -> tuple[Callable[[], None], int | None]:
        """Code pushing range()'s stop, and the temporary slot holding it, if one was needed."""
        folded = self.fold(stop)
        if folded is not None:
            if type(folded) is not int:
                self.fail(stop, f"range() stop must be int, got {_tn(type_of(folded))}")
            value = folded
            return (lambda: self.push_int(value, stop)), None
        if (
            isinstance(stop, ast.Name)
            and stop.id in self.local_names
            and stop.id not in stored
            and stop.id != name
        ):
            with self.scratch(dead=False):
                self.expect(stop, INT, "range() stop")
            slot = self.slots[stop.id]
            return (lambda: self.code.emit(Op.LOAD, slot)), None
        self.expect(stop, INT, "range() stop")
        bound = self.temp(stop)
        self.code.emit(Op.STORE, bound)
        return (lambda: self.code.emit(Op.LOAD, bound)), bound

    def assert_stmt(self, s: ast.Assert) -> None:
        constant = self.condition_constant(s.test)
        if constant is True:
            if s.msg is not None:
                with self.scratch(dead=False):
                    self.expect(s.msg, STR, "an assert message")
            return
        ok = Label()
        if constant is None:
            self.branch(s.test, ok, True)
        if s.msg is None:
            self.push(f"assertion failed (line {s.lineno})", s)
        else:
            self.expect(s.msg, STR, "an assert message")
        self.code.emit(Op.REVERT)
        self.code.place(ok)
        if constant is False:
            self.assigned = None

    def function(self, node: ast.FunctionDef) -> Function:
        self.block(node.body)
        if self.assigned is not None:  # the end is reachable
            if self.sig.returns is not None:
                self.fail(
                    node,
                    f"missing return: {self.sig.name}() must return {_tn(self.sig.returns)} "
                    "on every path",
                )
            self.code.emit(Op.RETV)
        code = assemble(optimize(self.code.items))
        if len(code) > MAX_FUNCTION_CODE:
            self.fail(
                node,
                f"{self.sig.name}() compiles to {len(code)} bytes; at most {MAX_FUNCTION_CODE}",
            )
        return Function(
            name=self.sig.name,
            params=tuple(t for _, t in self.sig.params),
            returns=self.sig.returns,
            public=self.sig.public,
            locals=self.next_slot,
            code=code,
        )


def _join(a: set[str] | None, b: set[str] | None) -> set[str] | None:
    """Names assigned on every reachable path into a merge point (None: unreachable)."""
    if a is None:
        return b
    if b is None:
        return a
    return a & b


def _meet(sets: list[set[str]]) -> set[str] | None:
    if not sets:
        return None
    out = set(sets[0])
    for s in sets[1:]:
        out &= s
    return out


def _stored_names(body: list[ast.stmt]) -> set[str]:
    return {
        n.id
        for s in body
        for n in ast.walk(s)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def _copy(a: set[str] | None) -> set[str] | None:
    return None if a is None else set(a)


# --- the module ----------------------------------------------------------------------------------


def _annotation_type(e: ast.expr | None) -> ValueType | None:
    if isinstance(e, ast.Name) and e.id in TYPES_BY_NAME:
        return TYPES_BY_NAME[e.id]
    return None


class ModuleCompiler:
    """Declares every module-level name first (so functions may call later ones and recurse),
    then compiles function bodies in order; errors are raised in source order."""

    def __init__(self, source: str, file: str) -> None:
        self.source = source
        self.file = file
        self.scope = Scope(file)
        self.failed: dict[int, CompileError] = {}  # id(statement) -> its declaration error
        self.bodies: list[tuple[ast.FunctionDef, Signature]] = []

    def fail(self, node: ast.AST, message: str) -> NoReturn:
        raise CompileError(self.file, _line(node), message)

    def compile(self) -> Module:
        try:
            tree = ast.parse(self.source, filename=self.file)
        except SyntaxError as exc:
            raise CompileError(self.file, exc.lineno or 0, f"syntax error: {exc.msg}") from None
        except (RecursionError, MemoryError):
            raise CompileError(self.file, 1, "the source is nested too deeply") from None
        for s in tree.body:
            try:
                self.declare(s)
            except CompileError as exc:
                self.failed[id(s)] = exc
                for name in _declared_names(s):
                    if name not in self.scope.lines:
                        self.scope.broken.setdefault(name, exc)
            except RecursionError:
                self.failed[id(s)] = CompileError(self.file, s.lineno, TOO_DEEP)
        functions: list[Function] = []
        for s in tree.body:
            if id(s) in self.failed:
                raise self.failed[id(s)]
            if isinstance(s, ast.FunctionDef):
                sig = self.scope.functions[s.name]
                compiler = Compiler(self.scope, sig, self.local_names(s))
                try:
                    functions.append(compiler.function(s))
                except RecursionError:
                    raise CompileError(self.file, s.lineno, TOO_DEEP) from None
        module = Module(consts=tuple(self.scope.pool.values), functions=tuple(functions))
        size = len(encode_module(module))
        if size > MAX_MODULE_SIZE:
            raise CompileError(
                self.file, 1, f"the compiled module is {size} bytes; at most {MAX_MODULE_SIZE}"
            )
        self.check_deployable(module)
        return module

    def check_deployable(self, module: Module) -> None:
        """What the chain checks at deploy (e.g. MAX_STACK) is an error here, with a line."""
        try:
            validate_module(module)
        except InvalidCode as exc:
            found = re.match(r"function (\d+) ", exc.message)  # validate._fail's format
            line = 1
            if found is not None and int(found[1]) < len(module.functions):
                line = self.scope.functions[module.functions[int(found[1])].name].line
            message = f"the compiled code is refused: {exc.message}"
            raise CompileError(self.file, line, message) from None

    def local_names(self, node: ast.FunctionDef) -> frozenset[str]:
        return frozenset(n for n in _stored_names(node.body) if n not in self.scope.lines)

    def name_free(self, name: str, node: ast.AST) -> None:
        if name in RESERVED:
            self.fail(node, f"{name} is a builtin name; choose another")
        if name in self.scope.lines:
            self.fail(node, f"{name} is already defined on line {self.scope.lines[name]}")

    def declare(self, s: ast.stmt) -> None:
        if isinstance(s, ast.Expr) and _is_str_constant(s.value):
            return  # the module docstring
        if isinstance(s, ast.ImportFrom):
            self.import_from(s)
        elif isinstance(s, ast.Import):
            names = ", ".join(a.name for a in s.names)
            self.fail(
                s, f"import {names} is not supported; contracts import only from gridchain_contract"
            )
        elif isinstance(s, ast.Assign | ast.AnnAssign):
            self.global_(s)
        elif isinstance(s, ast.FunctionDef):
            self.signature(s)
        elif type(s) in UNSUPPORTED_STMT and not isinstance(s, ast.Import | ast.ImportFrom):
            self.fail(s, UNSUPPORTED_STMT[type(s)])
        else:
            self.fail(
                s, "only imports, constants, storage maps and functions are allowed at module level"
            )

    def import_from(self, s: ast.ImportFrom) -> None:
        module = s.module or ""
        if s.level == 0 and module == "typing" and [a.name for a in s.names] == ["Final"]:
            return
        if s.level != 0 or module not in LANG_MODULES:
            self.fail(
                s,
                f"imports from {'.' * s.level}{module} are not supported; "
                "contracts import only from gridchain_contract",
            )
        for alias in s.names:
            if alias.asname is not None:
                self.fail(s, "renaming imports (as) is not supported")
            if alias.name != "*" and alias.name not in LANG_EXPORTS:
                self.fail(s, f"{module} has no name {alias.name}")

    def global_(self, s: ast.Assign | ast.AnnAssign) -> None:
        targets = s.targets if isinstance(s, ast.Assign) else [s.target]
        if len(targets) != 1 or not isinstance(targets[0], ast.Name):
            self.fail(s, "a module-level assignment names one constant or storage map")
        name = targets[0].id
        if s.value is None:
            self.fail(s, f"module-level {name} needs a value")
        value = s.value
        self.name_free(name, s)
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Name)
            and value.func.id == "Map"
        ):
            decl = self.map_decl(name, value, s)
            self.scope.maps[name] = decl
        else:
            self.scope.consts[name] = self.constant(name, value, s)
        self.scope.lines[name] = s.lineno

    def map_decl(self, name: str, value: ast.Call, s: ast.Assign | ast.AnnAssign) -> MapDecl:
        types = [_annotation_type(a) for a in value.args]
        if value.keywords or len(types) != 2 or types[0] is None or types[1] is None:
            self.fail(
                s,
                "a storage map is declared Map(KeyType, ValueType) "
                "with types int, bool, bytes or str",
            )
        key, val = types[0], types[1]
        if isinstance(s, ast.AnnAssign):
            ann = s.annotation
            ok = (
                isinstance(ann, ast.Subscript)
                and isinstance(ann.value, ast.Name)
                and ann.value.id == "Map"
                and isinstance(ann.slice, ast.Tuple)
                and [_annotation_type(t) for t in ann.slice.elts] == [key, val]
            )
            if not ok:
                self.fail(s, f"the annotation of {name} must be Map[{_tn(key)}, {_tn(val)}]")
        return MapDecl(name, key, val, s.lineno)

    def constant(self, name: str, value: ast.expr, s: ast.Assign | ast.AnnAssign) -> Value:
        checker = Compiler(
            self.scope, Signature("<module>", 0, (), None, False, s.lineno), frozenset()
        )
        folded = checker.fold(value)
        if folded is None:
            checker.expr(value)  # an error of the expression itself, if it has one
            self.fail(
                s,
                f"module-level {name} must be a constant (int, bool, bytes or str) "
                "or Map(KeyType, ValueType)",
            )
        if isinstance(s, ast.AnnAssign):
            ann = s.annotation
            if (
                isinstance(ann, ast.Subscript)
                and isinstance(ann.value, ast.Name)
                and ann.value.id == "Final"
            ):
                ann = ann.slice
            elif isinstance(ann, ast.Name) and ann.id == "Final":
                return folded
            declared = _annotation_type(ann)
            if declared is None:
                self.fail(
                    s,
                    f"unsupported annotation {ast.unparse(s.annotation)}; "
                    "use Final, Final[T] or T with T in int, bool, bytes, str",
                )
            if declared != type_of(folded):
                self.fail(
                    s, f"{name} is declared {_tn(declared)} but its value is {_tn(type_of(folded))}"
                )
        return folded

    def signature(self, s: ast.FunctionDef) -> None:
        self.name_free(s.name, s)
        if len(s.name) > 64:
            self.fail(s, "a function name is at most 64 characters")
        public = False
        for d in s.decorator_list:
            if not (isinstance(d, ast.Name) and d.id == "public"):
                self.fail(d, "only the @public decorator is supported")
            public = True
        a = s.args
        if a.vararg is not None or a.kwarg is not None:
            self.fail(s, "*args and **kwargs are not supported")
        if a.kwonlyargs:
            self.fail(s, "keyword-only parameters are not supported")
        if a.defaults:
            self.fail(s, "default parameter values are not supported")
        params: list[tuple[str, ValueType]] = []
        for arg in [*a.posonlyargs, *a.args]:
            if arg.annotation is None:
                self.fail(
                    arg,
                    f"parameter {arg.arg} of {s.name}() needs a type annotation "
                    "(int, bool, bytes or str)",
                )
            t = _annotation_type(arg.annotation)
            if t is None:
                self.fail(
                    arg,
                    f"unsupported type {ast.unparse(arg.annotation)}; use int, bool, bytes or str",
                )
            if arg.arg in self.scope.lines:
                self.fail(
                    arg,
                    f"parameter {arg.arg} hides the module-level {arg.arg} "
                    f"(line {self.scope.lines[arg.arg]}); rename it",
                )
            params.append((arg.arg, t))
        if len(params) > MAX_PARAMS:
            self.fail(s, f"{s.name}() has {len(params)} parameters; at most {MAX_PARAMS}")
        if s.returns is None:
            self.fail(s, f"{s.name}() needs a return annotation (-> int, bool, bytes, str or None)")
        if isinstance(s.returns, ast.Constant) and s.returns.value is None:
            returns = None
        else:
            returns = _annotation_type(s.returns)
            if returns is None:
                self.fail(
                    s.returns,
                    f"unsupported return type {ast.unparse(s.returns)}; "
                    "use int, bool, bytes, str or None",
                )
        if len(self.scope.functions) >= MAX_FUNCTIONS:
            self.fail(s, f"a module has at most {MAX_FUNCTIONS} functions")
        index = len(self.scope.functions)
        self.scope.functions[s.name] = Signature(
            s.name, index, tuple(params), returns, public, s.lineno
        )
        self.scope.lines[s.name] = s.lineno


def _is_str_constant(e: ast.expr) -> bool:
    return isinstance(e, ast.Constant) and isinstance(e.value, str)


def _declared_names(s: ast.stmt) -> list[str]:
    if isinstance(s, ast.FunctionDef):
        return [s.name]
    if isinstance(s, ast.Assign):
        return [t.id for t in s.targets if isinstance(t, ast.Name)]
    if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name):
        return [s.target.id]
    return []


def compile_source(source: str, filename: str = "<contract>") -> Module:
    """Compile a contract; raises CompileError ("file:line: message") at its first error."""
    return ModuleCompiler(source, filename).compile()


def compile_file(path: str | os.PathLike[str]) -> bytes:
    """The deployable bytes (encoded module) of the contract at `path`."""
    with open(path, encoding="utf-8") as f:
        source = f.read()
    return encode_module(compile_source(source, os.fspath(path)))
