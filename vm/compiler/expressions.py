"""Expressions, calls and conditions: each is type-checked as it is emitted.

Every expression has one of the four value types, known at compile time; there are no implicit
conversions and no truthiness, so the VM's dynamic kind checks never fire on compiled code. One
module because they recurse into each other: a call's arguments and a condition's operands are
expressions, and a conditional expression or a bool map key branches.
"""

import ast
from collections.abc import Callable
from typing import NoReturn

from vm.compiler.code import Label
from vm.compiler.constants import ConstantCompiler
from vm.compiler.language import (
    BOOL,
    BUILTINS,
    BYTES,
    COMPARE_OPS,
    CONVERSION_HINTS,
    INT,
    INT_OPS,
    RESERVED,
    STR,
    UNSUPPORTED_EXPR,
    ZERO,
    tn,
    type_of,
)
from vm.compiler.scope import MapDecl
from vm.compiler.storage import encode_map_key
from vm.isa import MAX_EVENT_TOPIC, Host, Op, ValueType

NEGATIVE_BOUND = "negative slice bounds are not supported; use len(b) - n"


class ExpressionCompiler(ConstantCompiler):
    """Emits expressions, calls and conditional jumps, leaving statements to statements.py."""

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
            self.fail(e, f"{what} must be {tn(want)}, got {tn(t)}")

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
            node, f"unsupported operand types for {symbol}{suffix}: {tn(left)} and {tn(right)}"
        )

    def unary(self, e: ast.UnaryOp) -> ValueType:
        if isinstance(e.op, ast.USub):
            self.expect(e.operand, INT, "the operand of unary '-'")
            self.code.emit(Op.NEG)
            return INT
        if isinstance(e.op, ast.Not):
            t = self.expr(e.operand)
            if t != BOOL:
                self.fail(e, f"'not' needs a bool, got {tn(t)} (compare explicitly, e.g. x != 0)")
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
                self.fail(v, f"'{word}' needs bool operands, got {tn(t)}")
            if i < len(e.values) - 1:
                self.code.emit(Op.DUP)
                self.code.emit(jump, end)
                self.code.emit(Op.POP)
        self.code.place(end)
        return BOOL

    def compare_check(self, node: ast.AST, op: ast.cmpop, left: ValueType, right: ValueType) -> Op:
        symbol, code = COMPARE_OPS[type(op)]
        if left != right:
            self.fail(node, f"cannot compare {tn(left)} with {tn(right)} using {symbol}")
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
            self.fail(e, f"both sides of 'if'/'else' must have one type, got {tn(a)} and {tn(b)}")
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
                self.fail(key, f"keys of {decl.name} are {tn(decl.key)}, got {tn(type_of(folded))}")
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
            self.fail(e, f"{tn(t)} cannot be indexed")
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
            self.fail(e, f"{tn(t)} cannot be sliced")
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
                self.fail(e.args[0], f"len() needs bytes or str, got {tn(t)}")
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
                self.fail(a, f"str() takes an int, got {tn(t)}{hint}")
            if t != want:
                self.fail(a, f"argument {i + 1} of {name}() must be {tn(want)}, got {tn(t)}")

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
                self.fail(e, f"{what} must be bool, got {tn(type_of(folded))}")
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
            self.fail(e, f"{what} must be bool, got {tn(t)} (compare explicitly, e.g. x != 0)")
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
