"""Statements and a whole function body, with definite assignment (as in Java).

A local's type comes from its first assignment in source order. Python's scoping is kept: a name
assigned anywhere in a function is local throughout, and a read must follow an assignment on
every path, so the VM never sees an unset local. Unreachable statements are still type-checked,
into a scratch buffer that is dropped.
"""

import ast
from collections.abc import Callable

from vm.compiler.code import Label, assemble, optimize
from vm.compiler.errors import line_of
from vm.compiler.expressions import ExpressionCompiler
from vm.compiler.frame import Loop
from vm.compiler.language import (
    INT,
    STR,
    TYPES_BY_NAME,
    UNSUPPORTED_STMT,
    ZERO,
    tn,
    type_of,
)
from vm.compiler.scope import MapDecl
from vm.isa import MAX_FUNCTION_CODE, Function, Host, Op, ValueType


class Compiler(ExpressionCompiler):
    """Compiles one function body (or, with no body, checks one module-level expression)."""

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
                    node, f"{name} is {tn(have)} (line {line}); cannot declare it {tn(declared)}"
                )
            if t != have:
                self.fail(node, f"{name} is {tn(have)} (line {line}); cannot assign {tn(t)} to it")
        else:
            if declared is not None and t != declared:
                self.fail(node, f"cannot assign {tn(t)} to {name}: {tn(declared)}")
            self.types[name] = (t, line_of(node))
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
            self.fail(target, f"{tn(t)} values are immutable; only storage map items can be set")
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
                self.fail(s, f"{name}() must return {tn(returns)}")
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
            self.fail(e, f"a condition must be bool, got {tn(type_of(folded))}")
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
        stored = stored_names(s.body)
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
            self.fail(s, f"{name} is {tn(have)} (line {line}); range() gives int")
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
                self.fail(stop, f"range() stop must be int, got {tn(type_of(folded))}")
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
                    f"missing return: {self.sig.name}() must return {tn(self.sig.returns)} "
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


def stored_names(body: list[ast.stmt]) -> set[str]:
    return {
        n.id
        for s in body
        for n in ast.walk(s)
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def _copy(a: set[str] | None) -> set[str] | None:
    return None if a is None else set(a)
