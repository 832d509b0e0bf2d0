"""What each instruction becomes in the generated Python: inline code where the kinds of its
operands make that safe, else a call to its function in vm/ops.py (host functions: vm/host.py).
"""

from vm.errors import BrokenInvariant
from vm.isa import (
    HOSTS,
    INT_MAX,
    INT_MIN,
    MAX_CALL_DEPTH,
    MAX_SHIFT,
    MAX_TOTAL_SLOTS,
    OPS,
    Host,
    Op,
)
from vm.translate.kinds import BOOL, BYTES, INT, KIND_OF_VALUE_TYPE, PY_NAME, STR, step_kinds
from vm.translate.stack import Entry, StackTranslator
from vm.validate import Block, Instr, stack_effect

BIN_OPS = {Op.ADD: "+", Op.SUB: "-", Op.MUL: "*"}
CMP_OPS = {Op.LT: "<", Op.LE: "<=", Op.GT: ">", Op.GE: ">="}
BIT_OPS = {Op.BAND: "&", Op.BOR: "|", Op.BXOR: "^"}
HELPERS: dict[Op, str] = {
    Op.POW: "op_pow",
    Op.BTOI: "op_btoi",
    Op.ITOB: "op_itob",
    Op.ITOS: "op_itos",
    Op.LEN: "op_len",
    Op.INDEX: "op_index",
}
GAS_HELPERS: dict[Op, str] = {
    Op.CONCAT: "op_concat",
    Op.SLICE: "op_slice",
    Op.UTF8: "op_utf8",
    Op.TEXT: "op_text",
}
HOST_ATTRS: dict[Host, str] = {
    Host.CALLER: "H.caller",
    Host.SIGNER_COUNT: "len(H.signers)",
    Host.HEIGHT: "H.height",
    Host.TIME: "H.time_ms",
    Host.SELF: "H.self_address",
    Host.VALUE: "H.value",
}


class InstructionTranslator(StackTranslator):
    """Translates one instruction at a time onto the stack model (the `op_<name>` methods)."""

    def emit_op(self, block: Block, pos: int) -> int:
        """Translate instrs[pos]; returns how many instructions it consumed."""
        ins = block.instrs[pos]
        op = ins.op
        pops, pushes = stack_effect(self.vm.module, ins)
        kind = 0
        if pushes:  # the kind of the result, from the kinds of just the operands
            kinds = [e.kind for e in self.peek(pops)]
            step_kinds(self.vm, ins, kinds, self.locs)  # only STORE writes locs; it pushes nothing
            kind = kinds[-1]
        handler = getattr(self, f"op_{op.name.lower()}", None)
        if handler is not None:
            used: int = handler(block, pos, ins, kind)
            return used
        if op in BIN_OPS:
            return self.arith(block, pos, ins)
        if op in CMP_OPS:
            return self.compare(ins)
        if op in BIT_OPS:
            a, b = self.pop_atoms(2)
            self.int_operands(ins, a, b)
            self.pure(f"({a.expr} {BIT_OPS[op]} {b.expr})", INT, a, b)
            return 1
        if op in HELPERS:
            info = OPS[op]
            args = self.pop_atoms(info.pops)
            name, used = self.target(block, pos)
            params = ", ".join(e.expr for e in args)
            self.emit(f"{name} = {HELPERS[op]}({self.where(ins)}, {params})")
            self.result(name, kind)
            return used
        if op in GAS_HELPERS:
            args = self.pop_atoms(OPS[op].pops)
            name, used = self.target(block, pos)
            params = ", ".join(e.expr for e in args)
            self.emit(f"{name}, g = {GAS_HELPERS[op]}(g, {self.where(ins)}, {params})")
            self.result(name, kind)
            return used
        raise AssertionError(f"no translation for {op.name}")  # pragma: no cover

    def pure(self, expr: str, kind: int, *operands: Entry) -> None:
        reads = frozenset().union(*(e.reads for e in operands))
        self.push(Entry(expr, kind, reads, atom=False))

    def int_operands(self, ins: Instr, *operands: Entry) -> None:
        tests = [f"type({e.expr}) is not int" for e in operands if e.kind != INT]
        if tests:
            values = ", ".join(e.expr for e in operands)
            self.emit(f"if {' or '.join(tests)}: bad({self.where(ins)}, {int(ins.op)}, {values})")

    def op_const(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        self.consts.add(ins.arg)
        self.push(Entry(f"k{ins.arg}", kind))
        return 1

    def op_small(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        self.push(Entry(f"({ins.arg:d})" if ins.arg < 0 else f"{ins.arg:d}", INT))
        return 1

    def op_true(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        self.push(Entry("True", BOOL))
        return 1

    def op_false(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        self.push(Entry("False", BOOL))
        return 1

    def op_nop(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        return 1

    def op_pop(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        self.pop()  # pending expressions are pure: dropping one skips nothing observable
        return 1

    def op_dup(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        top = self.atom(self.pop())
        self.push(top)
        self.push(top)
        return 1

    def op_swap(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        self.reach(2)
        self.stack[-1], self.stack[-2] = self.stack[-2], self.stack[-1]
        self.clean = min(self.clean, len(self.stack) - 2)
        return 1

    def op_over(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        b, a = self.pop(), self.atom(self.pop())
        self.push(a)
        self.push(b)
        self.push(a)
        return 1

    def op_load(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        i = ins.arg
        self.push(Entry(f"l{i}", self.locs[i], frozenset({i})))
        return 1

    def op_store(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        value = self.pop()
        self.free_local(ins.arg)
        if value.expr != f"l{ins.arg}":
            self.emit(f"l{ins.arg} = {value.expr}")
        self.locs[ins.arg] = value.kind
        return 1

    def arith(self, block: Block, pos: int, ins: Instr) -> int:
        a, b = self.pop_atoms(2)
        self.int_operands(ins, a, b)
        name, used = self.target(block, pos)
        self.emit(f"{name} = {a.expr} {BIN_OPS[ins.op]} {b.expr}")
        self.range_check(ins, name, self.bounds(ins.op, a, b))
        self.result(name, INT)
        return used

    @staticmethod
    def bounds(op: Op, a: Entry, b: Entry) -> str:
        """Which ends of the range a result can cross: 'hi', 'lo' or 'both'."""
        literal = b.expr.strip("()")
        if not literal.lstrip("-").isdigit():
            return "both"
        value = int(literal)
        if op is Op.ADD:
            return "hi" if value >= 0 else "lo"
        if op is Op.SUB:
            return "lo" if value >= 0 else "hi"
        return "both"

    def range_check(self, ins: Instr, name: str, ends: str) -> None:
        tests = []
        if ends in ("hi", "both"):
            tests.append(f"{name} > {INT_MAX}")
        if ends in ("lo", "both"):
            tests.append(f"{name} < {INT_MIN}")
        self.emit(f"if {' or '.join(tests)}: overflow({self.where(ins)}, {int(ins.op)})")

    def op_div(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        return self.divmod(block, pos, ins, "//")

    def op_mod(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        return self.divmod(block, pos, ins, "%")

    def divmod(self, block: Block, pos: int, ins: Instr, symbol: str) -> int:
        a, b = self.pop_atoms(2)
        self.int_operands(ins, a, b)
        literal = b.expr.strip("()")
        known = int(literal) if literal.lstrip("-").isdigit() else None
        if known is None or known == 0:
            self.emit(f"if {b.expr} == 0: by_zero({self.where(ins)}, {int(ins.op)})")
        name, used = self.target(block, pos)
        self.emit(f"{name} = {a.expr} {symbol} {b.expr}")
        if ins.op is Op.DIV and (known is None or known == -1):
            self.emit(f"if {name} > {INT_MAX}: overflow({self.where(ins)}, {int(ins.op)})")
        self.result(name, INT)
        return used

    def op_neg(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        (a,) = self.pop_atoms(1)
        self.int_operands(ins, a)
        name, used = self.target(block, pos)
        self.emit(f"{name} = -{a.expr}")
        self.emit(f"if {name} > {INT_MAX}: overflow({self.where(ins)}, {int(ins.op)})")
        self.result(name, INT)
        return used

    def op_shl(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        return self.shift(block, pos, ins, "<<")

    def op_shr(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        return self.shift(block, pos, ins, ">>")

    def shift(self, block: Block, pos: int, ins: Instr, symbol: str) -> int:
        a, b = self.pop_atoms(2)
        self.int_operands(ins, a, b)
        literal = b.expr.strip("()")
        if not (literal.isdigit() and int(literal) <= MAX_SHIFT):
            self.emit(
                f"if {b.expr} < 0 or {b.expr} > {MAX_SHIFT}: "
                f"bad_shift({self.where(ins)}, {int(ins.op)}, {b.expr})"
            )
        name, used = self.target(block, pos)
        self.emit(f"{name} = {a.expr} {symbol} {b.expr}")
        if ins.op is Op.SHL:
            self.range_check(ins, name, "both")
        self.result(name, INT)
        return used

    def op_min(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        a, b = self.pop_atoms(2)
        self.int_operands(ins, a, b)
        self.pure(f"({a.expr} if {a.expr} <= {b.expr} else {b.expr})", INT, a, b)
        return 1

    def op_max(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        a, b = self.pop_atoms(2)
        self.int_operands(ins, a, b)
        self.pure(f"({a.expr} if {a.expr} >= {b.expr} else {b.expr})", INT, a, b)
        return 1

    def compare(self, ins: Instr) -> int:
        a, b = self.pop_atoms(2)
        fail = f"bad({self.where(ins)}, {int(ins.op)}, {a.expr}, {b.expr})"
        ordered = (INT, BYTES, STR)
        if a.kind in ordered and b.kind == a.kind:
            pass
        elif a.kind in ordered:
            self.check_kind(b, a.kind, fail)
        elif b.kind in ordered:
            self.check_kind(a, b.kind, fail)
        else:
            self.emit(f"if type({a.expr}) is not type({b.expr}) or type({a.expr}) is bool: {fail}")
        self.pure(f"({a.expr} {CMP_OPS[ins.op]} {b.expr})", BOOL, a, b)
        return 1

    def op_eq(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        return self.equality(ins, equal=True)

    def op_ne(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        return self.equality(ins, equal=False)

    def equality(self, ins: Instr, equal: bool) -> int:
        a, b = self.pop_atoms(2)
        single = a.kind in PY_NAME
        if single and a.kind == b.kind:
            expr = f"({a.expr} {'==' if equal else '!='} {b.expr})"
        elif not a.kind & b.kind:
            expr = "False" if equal else "True"
        elif equal:
            expr = f"(type({a.expr}) is type({b.expr}) and {a.expr} == {b.expr})"
        else:
            expr = f"(type({a.expr}) is not type({b.expr}) or {a.expr} != {b.expr})"
        self.pure(expr, BOOL, a, b)
        return 1

    def op_not(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        (a,) = self.pop_atoms(1)
        self.check_kind(a, BOOL, f"bad({self.where(ins)}, {int(ins.op)}, {a.expr})")
        self.pure(f"(not {a.expr})", BOOL, a)
        return 1

    def op_len(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        if self.peek(1)[0].kind != BYTES:
            return self.helper(block, pos, ins, "op_len", 1)
        (a,) = self.pop_atoms(1)
        self.pure(f"len({a.expr})", INT, a)
        return 1

    def op_index(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        v, i = self.peek(2)
        if v.kind != BYTES or i.kind != INT:
            return self.helper(block, pos, ins, "op_index", 2)
        v, i = self.pop_atoms(2)
        self.emit(
            f"if {i.expr} < 0 or {i.expr} >= len({v.expr}): "
            f"op_index({self.where(ins)}, {v.expr}, {i.expr})"
        )
        name, used = self.target(block, pos)
        self.emit(f"{name} = {v.expr}[{i.expr}]")
        self.result(name, INT)
        return used

    def helper(self, block: Block, pos: int, ins: Instr, function: str, n: int) -> int:
        args = self.pop_atoms(n)
        name, used = self.target(block, pos)
        params = ", ".join(e.expr for e in args)
        self.emit(f"{name} = {function}({self.where(ins)}, {params})")
        self.result(name, INT)
        return used

    def op_call(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        callee = self.vm.functions[ins.arg]
        args = self.pop_atoms(len(callee.function.params))
        w = self.where(ins)
        cost = callee.frame_slots
        self.emit(f"if d >= {MAX_CALL_DEPTH}: too_deep({w})")
        self.emit(f"if u > {MAX_TOTAL_SLOTS - cost}: too_many_slots({w})")
        call = f"f{ins.arg}(g, d + 1, u + {cost}, H{''.join(', ' + e.expr for e in args)})"
        if callee.function.returns is None:
            self.emit(f"_, g = {call}")
            return 1
        name, used = self.target(block, pos)
        self.emit(f"{name}, g = {call}")
        self.result(name, kind)
        return used

    def op_ret(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        (v,) = self.pop_atoms(1)
        declared = self.cf.function.returns
        if declared is None:
            raise BrokenInvariant("RET in a function that returns nothing")
        expected = KIND_OF_VALUE_TYPE[declared]
        fail = f"bad_return({self.where(ins)}, {PY_NAME[expected]!r}, {v.expr})"
        self.check_kind(v, expected, fail)
        self.emit(f"return {v.expr}, g")
        return 1

    def op_retv(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        self.emit("return None, g")
        return 1

    def op_revert(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        (v,) = self.pop_atoms(1)
        self.emit(f"op_revert({self.where(ins)}, {v.expr})")
        return 1

    def op_host(self, block: Block, pos: int, ins: Instr, kind: int) -> int:
        host = Host(ins.arg)
        info = HOSTS[host]
        args = self.pop_atoms(info.pops)
        if host in HOST_ATTRS:
            name = self.temp()
            self.emit(f"{name} = {HOST_ATTRS[host]}")
            self.result(name, kind)
            return 1
        call = f"h_{host.name.lower()}(H, g, {self.where(ins)}"
        call += "".join(", " + e.expr for e in args) + ")"
        if not info.pushes:
            self.emit(f"_, g = {call}")
            return 1
        name, used = self.target(block, pos)
        self.emit(f"{name}, g = {call}")
        self.result(name, kind)
        return used
