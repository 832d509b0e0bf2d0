"""Op semantics shared by both engines, and the translator from validated code to Python.

The first half defines what every non-trivial op does, as plain functions: the reference
interpreter (vm/machine.py `interpret`) calls them for every op, and the generated code calls
them wherever it does not inline a faster equivalent. Every fault message comes from here, so
both engines report the same message for the same fault.

The second half translates each function into one Python function (exec'd once, on the
function's first call): stack slots become Python locals, each basic block's gas is charged
with one subtraction at its entry, and checks whose outcome is known from a static kind
analysis are left out. The generated source never contains contract data: constants and
messages are bound by reference (keyword defaults `k<i>=K[i]`, `W=W<function>`); the only
contract-derived text in it is decimal integers formatted from decoded immediates (local and
constant indices, SMALL values, block numbers).
"""

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from vm import host as hostlib
from vm.errors import BrokenInvariant, Fault, Halt, OutOfGas, Revert
from vm.host import Value, charge, fault, kind_name, need, text_size
from vm.isa import (
    BYTES_PER_GAS,
    HOSTS,
    INT_MAX,
    INT_MIN,
    MAX_BYTES,
    MAX_CALL_DEPTH,
    MAX_SHIFT,
    MAX_TOTAL_SLOTS,
    OPS,
    Host,
    Op,
    ValueType,
)
from vm.validate import Block, CheckedFunction, Instr, ValidatedModule, stack_effect

# Op semantics. Each takes `where` ("function@offset") for its messages; ops with dynamic gas
# take and return the gas left.

NEEDS: dict[Op, str] = {
    **{op: "two ints" for op in (Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MOD, Op.POW)},
    **{op: "two ints" for op in (Op.SHL, Op.SHR, Op.BAND, Op.BOR, Op.BXOR, Op.MIN, Op.MAX)},
    **{op: "two ints, two bytes or two str" for op in (Op.LT, Op.LE, Op.GT, Op.GE)},
    Op.NEG: "an int",
    Op.NOT: "a bool",
    Op.CONCAT: "two bytes or two str",
    Op.LEN: "bytes or a str",
    Op.SLICE: "bytes or a str, and two ints",
    Op.INDEX: "bytes and an int",
    Op.BTOI: "bytes",
    Op.ITOB: "two ints",
    Op.UTF8: "a str",
    Op.TEXT: "bytes",
    Op.ITOS: "an int",
    Op.JUMPF: "a bool",
    Op.JUMPT: "a bool",
    Op.REVERT: "a str",
}


def bad(where: str, op: int, *values: object) -> NoReturn:
    """An operand of the wrong kind."""
    name = Op(op).name
    need(where, name, NEEDS[Op(op)], *values)


def overflow(where: str, op: int) -> NoReturn:
    fault(where, f"{Op(op).name} result is outside the int range")


def by_zero(where: str, op: int) -> NoReturn:
    fault(where, f"{Op(op).name} by zero")


def bad_shift(where: str, op: int, shift: int) -> NoReturn:
    fault(where, f"{Op(op).name} shift {shift} is outside 0..{MAX_SHIFT}")


def bad_arg(function: str, i: int, expected: str, value: object) -> NoReturn:
    raise Fault(f"{function}: argument {i} must be {expected}, got {kind_name(value)}")


def bad_return(where: str, expected: str, value: object) -> NoReturn:
    fault(where, f"RET needs {expected} (the declared return type), got {kind_name(value)}")


def too_deep(where: str) -> NoReturn:
    fault(where, f"CALL exceeds the call depth limit of {MAX_CALL_DEPTH}")


def too_many_slots(where: str) -> NoReturn:
    fault(where, f"CALL exceeds {MAX_TOTAL_SLOTS} stack and local slots")


def _ints(where: str, op: Op, a: object, b: object) -> None:
    if type(a) is not int or type(b) is not int:
        bad(where, op, a, b)


def _bounded(where: str, op: Op, value: int) -> int:
    if value > INT_MAX or value < INT_MIN:
        overflow(where, op)
    return value


def op_add(where: str, a: Any, b: Any) -> int:
    _ints(where, Op.ADD, a, b)
    return _bounded(where, Op.ADD, a + b)


def op_sub(where: str, a: Any, b: Any) -> int:
    _ints(where, Op.SUB, a, b)
    return _bounded(where, Op.SUB, a - b)


def op_mul(where: str, a: Any, b: Any) -> int:
    _ints(where, Op.MUL, a, b)
    return _bounded(where, Op.MUL, a * b)


def op_div(where: str, a: Any, b: Any) -> int:
    _ints(where, Op.DIV, a, b)
    if b == 0:
        by_zero(where, Op.DIV)
    return _bounded(where, Op.DIV, a // b)


def op_mod(where: str, a: Any, b: Any) -> int:
    _ints(where, Op.MOD, a, b)
    if b == 0:
        by_zero(where, Op.MOD)
    result: int = a % b
    return result


def op_neg(where: str, a: Any) -> int:
    if type(a) is not int:
        bad(where, Op.NEG, a)
    return _bounded(where, Op.NEG, -a)


def op_pow(where: str, a: Any, b: Any) -> int:
    """|a| >= 2 gives |a**b| >= 2**((bit_length(a) - 1) * b): when that is already out of
    range the power is never computed; otherwise it is below 2**512 and cheap."""
    _ints(where, Op.POW, a, b)
    if b < 0:
        fault(where, f"POW exponent {b} is negative")
    if a not in (-1, 0, 1) and (abs(a).bit_length() - 1) * b >= INT_MAX.bit_length() + 1:
        overflow(where, Op.POW)
    return _bounded(where, Op.POW, a**b)


def _shift(where: str, op: Op, a: Any, b: Any) -> None:
    _ints(where, op, a, b)
    if not 0 <= b <= MAX_SHIFT:
        bad_shift(where, op, b)


def op_shl(where: str, a: Any, b: Any) -> int:
    _shift(where, Op.SHL, a, b)
    return _bounded(where, Op.SHL, a << b)


def op_shr(where: str, a: Any, b: Any) -> int:
    _shift(where, Op.SHR, a, b)
    result: int = a >> b
    return result


def op_band(where: str, a: Any, b: Any) -> int:
    _ints(where, Op.BAND, a, b)  # 256-bit two's complement is closed under &, |, ^
    result: int = a & b
    return result


def op_bor(where: str, a: Any, b: Any) -> int:
    _ints(where, Op.BOR, a, b)
    result: int = a | b
    return result


def op_bxor(where: str, a: Any, b: Any) -> int:
    _ints(where, Op.BXOR, a, b)
    result: int = a ^ b
    return result


def op_min(where: str, a: Any, b: Any) -> int:
    _ints(where, Op.MIN, a, b)
    result: int = a if a <= b else b
    return result


def op_max(where: str, a: Any, b: Any) -> int:
    _ints(where, Op.MAX, a, b)
    result: int = a if a >= b else b
    return result


def _comparable(where: str, op: Op, a: object, b: object) -> None:
    kind = type(a)
    if kind is not type(b) or kind is bool:
        bad(where, op, a, b)


def op_lt(where: str, a: Any, b: Any) -> bool:
    _comparable(where, Op.LT, a, b)
    return bool(a < b)


def op_le(where: str, a: Any, b: Any) -> bool:
    _comparable(where, Op.LE, a, b)
    return bool(a <= b)


def op_gt(where: str, a: Any, b: Any) -> bool:
    _comparable(where, Op.GT, a, b)
    return bool(a > b)


def op_ge(where: str, a: Any, b: Any) -> bool:
    _comparable(where, Op.GE, a, b)
    return bool(a >= b)


def op_eq(where: str, a: Any, b: Any) -> bool:
    return type(a) is type(b) and bool(a == b)


def op_ne(where: str, a: Any, b: Any) -> bool:
    return type(a) is not type(b) or bool(a != b)


def op_not(where: str, a: Any) -> bool:
    if type(a) is not bool:
        bad(where, Op.NOT, a)
    return not a


def _size_gas(size: int) -> int:
    return -(-size // BYTES_PER_GAS)


def op_concat(gas: int, where: str, a: Any, b: Any) -> tuple[Value, int]:
    kind = type(a)
    if kind is not type(b) or (kind is not bytes and kind is not str):
        bad(where, Op.CONCAT, a, b)
    size = text_size(a) + text_size(b) if kind is str else len(a) + len(b)
    if size > MAX_BYTES:
        fault(where, f"CONCAT result of {size} bytes exceeds {MAX_BYTES}")
    gas = charge(gas, _size_gas(size))
    result: Value = a + b
    return result, gas


def op_len(where: str, a: Any) -> int:
    kind = type(a)
    if kind is bytes:
        return len(a)
    if kind is str:
        return text_size(a)
    bad(where, Op.LEN, a)


def op_slice(gas: int, where: str, v: Any, i: Any, j: Any) -> tuple[Value, int]:
    """Python slicing for 0 <= i, j (clamped to the length); a str is sliced by code points
    (so the result is always valid text) and charged by the UTF-8 size of the result."""
    kind = type(v)
    if (kind is not bytes and kind is not str) or type(i) is not int or type(j) is not int:
        bad(where, Op.SLICE, v, i, j)
    if i < 0 or j < 0:
        fault(where, f"SLICE bounds {i}, {j} must not be negative")
    result: Value = v[i:j]
    size = text_size(result) if kind is str else len(result)  # type: ignore[arg-type]
    return result, charge(gas, _size_gas(size))


def op_index(where: str, v: Any, i: Any) -> int:
    if type(v) is not bytes or type(i) is not int:
        bad(where, Op.INDEX, v, i)
    if not 0 <= i < len(v):
        fault(where, f"INDEX {i} is outside bytes of length {len(v)}")
    result: int = v[i]
    return result


def op_btoi(where: str, v: Any) -> int:
    if type(v) is not bytes:
        bad(where, Op.BTOI, v)
    if len(v) > 32:
        fault(where, f"BTOI takes at most 32 bytes, got {len(v)}")
    return _bounded(where, Op.BTOI, int.from_bytes(v, "big"))


def op_itob(where: str, v: Any, width: Any) -> bytes:
    _ints(where, Op.ITOB, v, width)
    if not 1 <= width <= 32:
        fault(where, f"ITOB width {width} is outside 1..32")
    if not 0 <= v < 1 << (8 * width):
        fault(where, f"ITOB value does not fit in {width} unsigned bytes")
    result: bytes = v.to_bytes(width, "big")
    return result


def op_utf8(gas: int, where: str, v: Any) -> tuple[Value, int]:
    if type(v) is not str:
        bad(where, Op.UTF8, v)
    gas = charge(gas, _size_gas(text_size(v)))
    return v.encode(), gas


def op_text(gas: int, where: str, v: Any) -> tuple[Value, int]:
    """Charged for the input before decoding; invalid UTF-8 faults after the charge."""
    if type(v) is not bytes:
        bad(where, Op.TEXT, v)
    gas = charge(gas, _size_gas(len(v)))
    try:
        return v.decode(), gas
    except UnicodeDecodeError:
        fault(where, "TEXT got invalid UTF-8", gas)


def op_itos(where: str, v: Any) -> str:
    if type(v) is not int:
        bad(where, Op.ITOS, v)
    return str(v)


def op_revert(where: str, v: Any) -> NoReturn:
    if type(v) is not str:
        bad(where, Op.REVERT, v)
    raise Revert(v)


def check_bool(where: str, op: Op, v: Any) -> bool:
    if type(v) is not bool:
        bad(where, op, v)
    return v


PY_TYPES: dict[ValueType, type] = {
    ValueType.INT: int,
    ValueType.BOOL: bool,
    ValueType.BYTES: bytes,
    ValueType.STR: str,
}


def where_of(cf: CheckedFunction, offset: int) -> str:
    return f"{cf.function.name}@{offset}"


# Kinds: a bit set of what a stack slot or local may hold at a program point. A slot whose
# kind is a single bit needs no run-time kind check.

INT, BOOL, BYTES, STR = 1, 2, 4, 8
ANY = INT | BOOL | BYTES | STR
BYTES_OR_STR = BYTES | STR
KIND_OF_TYPE: dict[type, int] = {int: INT, bool: BOOL, bytes: BYTES, str: STR}
KIND_OF_VALUE_TYPE = {vt: KIND_OF_TYPE[t] for vt, t in PY_TYPES.items()}
PY_NAME = {INT: "int", BOOL: "bool", BYTES: "bytes", STR: "str"}

_FIXED_RESULT: dict[Op, int] = {
    **{op: INT for op in (Op.SMALL, Op.ADD, Op.SUB, Op.MUL, Op.DIV, Op.MOD, Op.NEG, Op.POW)},
    **{op: INT for op in (Op.SHL, Op.SHR, Op.BAND, Op.BOR, Op.BXOR, Op.MIN, Op.MAX)},
    **{op: INT for op in (Op.LEN, Op.INDEX, Op.BTOI)},
    **{op: BOOL for op in (Op.LT, Op.LE, Op.GT, Op.GE, Op.EQ, Op.NE, Op.NOT, Op.TRUE)},
    Op.FALSE: BOOL,
    Op.ITOB: BYTES,
    Op.UTF8: BYTES,
    Op.TEXT: STR,
    Op.ITOS: STR,
}
HOST_RESULT: dict[Host, int] = {
    Host.SLOAD: ANY,
    Host.SHAS: BOOL,
    Host.CALLER: BYTES,
    Host.SIGNER_COUNT: INT,
    Host.SIGNER: BYTES,
    Host.HEIGHT: INT,
    Host.TIME: INT,
    Host.ED25519: BOOL,
    Host.HASH: BYTES,
    Host.SELF: BYTES,
    Host.VALUE: INT,
    Host.BALANCE: INT,
    Host.KEY_ADDRESS: BYTES,
    Host.PARAM: INT,
}


def step_kinds(vm: ValidatedModule, ins: Instr, stack: list[int], locs: Sequence[int]) -> None:
    """The kinds after `ins` (in place on `stack`, which holds at least its operands),
    assuming it does not fault. STORE, which writes a local, is left to the caller."""
    op = ins.op
    if op is Op.CONST:
        stack.append(KIND_OF_TYPE[type(vm.module.consts[ins.arg])])
    elif op is Op.LOAD:
        stack.append(locs[ins.arg])
    elif op is Op.DUP:
        stack.append(stack[-1])
    elif op is Op.SWAP:
        stack[-1], stack[-2] = stack[-2], stack[-1]
    elif op is Op.OVER:
        stack.append(stack[-2])
    elif op is Op.CONCAT:
        b, a = stack.pop(), stack.pop()
        stack.append(a & b & BYTES_OR_STR or ANY)
    elif op is Op.SLICE:
        del stack[-2:]
        stack.append(stack.pop() & BYTES_OR_STR or ANY)
    elif op is Op.CALL:
        callee = vm.module.functions[ins.arg]
        if callee.params:
            del stack[-len(callee.params) :]
        if callee.returns is not None:
            stack.append(KIND_OF_VALUE_TYPE[callee.returns])
    elif op is Op.HOST:
        info = HOSTS[ins.arg]
        if info.pops:
            del stack[-info.pops :]
        if info.pushes:
            stack.append(HOST_RESULT[Host(ins.arg)])
    else:
        if op is Op.STORE:
            raise BrokenInvariant("STORE reached the kind tracker unhandled")
        info_ = OPS[op]
        if info_.pops:
            del stack[-info_.pops :]
        if info_.pushes:
            stack.append(_FIXED_RESULT[op])


def successors(block: Block) -> list[int]:
    last = block.last
    if last.op is Op.JUMP:
        return [last.arg]
    if last.op in (Op.JUMPF, Op.JUMPT):
        return [last.arg, last.next]
    if last.op in (Op.RET, Op.RETV, Op.REVERT):
        return []
    return [last.next]


# A stack of kinds as a persistent list (top first): blocks that leave the deep part alone
# share it, so the analysis costs what the blocks do, not blocks times stack height.
KindStack = tuple[int, "KindStack"] | None
State = tuple[KindStack, tuple[int, ...]]  # (stack kinds, local kinds)


def pull(base: KindStack, top: list[int], n: int) -> KindStack:
    """Move kinds from the shared `base` to the bottom of `top` until `top` holds n."""
    while len(top) < n:
        if base is None:
            raise BrokenInvariant("the shared stack of kinds ran out")
        kind, base = base
        top.insert(0, kind)
    return base


def push_all(base: KindStack, top: list[int]) -> KindStack:
    for kind in top:
        base = (kind, base)
    return base


def join_stacks(old: KindStack, new: KindStack) -> KindStack:
    """The union of two stacks of one height; `old` itself when it already covers `new`."""
    differing: list[tuple[int, int, KindStack]] = []
    a, b = old, new
    while a is not b:
        if a is None or b is None:
            raise BrokenInvariant("joined stacks of kinds of different heights")
        differing.append((a[0], b[0], a))
        a, b = a[1], b[1]
    joined, same = a, True
    for ka, kb, node in reversed(differing):
        if same and ka | kb == ka:
            joined = node
        else:
            same = False
            joined = (ka | kb, joined)
    return joined


def join_locals(old: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, ...]:
    if old is new:
        return old
    joined = tuple(a | b for a, b in zip(old, new, strict=True))
    return old if joined == old else joined


def entry_state(cf: CheckedFunction) -> State:
    f = cf.function
    params = tuple(KIND_OF_VALUE_TYPE[p] for p in f.params)
    return None, params + (INT,) * (f.locals - len(params))


def block_exit(vm: ValidatedModule, block: Block, state: State) -> State:
    base, locs = state
    top: list[int] = []
    written: list[int] | None = None  # the locals, copied on the first STORE
    for ins in block.instrs:
        base = pull(base, top, stack_effect(vm.module, ins)[0])
        if ins.op is Op.STORE:
            written = written if written is not None else list(locs)
            written[ins.arg] = top.pop()
        else:
            step_kinds(vm, ins, top, locs if written is None else written)
    return push_all(base, top), locs if written is None else tuple(written)


def block_kinds(vm: ValidatedModule, cf: CheckedFunction) -> dict[int, State]:
    """Kinds on entry to every reachable block: forward dataflow, joined by union."""
    blocks = cf.block_map
    states: dict[int, State] = {0: entry_state(cf)}
    work = [0]
    while work:
        block = blocks[work.pop()]
        stack, locs = block_exit(vm, block, states[block.start])
        for target in successors(block):
            old = states.get(target)
            if old is None:
                states[target] = (stack, locs)
            else:
                joined = (join_stacks(old[0], stack), join_locals(old[1], locs))
                if joined[0] is old[0] and joined[1] is old[1]:
                    continue
                states[target] = joined
            work.append(target)
    return states


# Code generation


@dataclass(frozen=True)
class Entry:
    """A stack slot during translation: a Python expression, its kind, the locals it reads
    (it must be computed before one of them is overwritten) and whether it is a plain name or
    literal (safe to repeat)."""

    expr: str
    kind: int
    reads: frozenset[int] = frozenset()
    atom: bool = True


GOTO = "\0goto"
INDENT = " "  # one space per level: generated code can nest deep, and parsing is linear in it
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
MAX_INLINE_BLOCK = 64  # instructions: a jump target longer than this is never copied


class _Sites:
    """Messages' `where` strings, shared by all generated functions of a program as W[i]."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.index: dict[str, int] = {}

    def ref(self, text: str) -> str:
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.items)
            self.items.append(text)
        return f"W[{i}]"


class _Chain:
    """One dispatch case: a head block and the blocks copied after it, as lines of code."""

    def __init__(self, head: int) -> None:
        self.head = head
        self.lines: list[tuple[int, str, int]] = []  # (indent, text or GOTO, target)
        self.visited = {head}
        self.loops = False


class FunctionTranslator:
    def __init__(self, vm: ValidatedModule, cf: CheckedFunction, sites: _Sites) -> None:
        self.vm = vm
        self.cf = cf
        self.sites = sites
        self.blocks = cf.block_map
        self.kinds = block_kinds(vm, cf)
        self.targets = {i.arg for i in cf.instrs if i.op in (Op.JUMP, Op.JUMPF, Op.JUMPT)}
        self.cases: dict[int, int] = {0: 0}  # block start -> case number
        self.heads = [0]  # block starts in case order
        self.emitted: set[int] = set()
        self.budget = len(cf.instrs) // 2 + MAX_INLINE_BLOCK  # for instructions emitted twice
        self.consts: set[int] = set()
        self.temps = 0
        # per-chain state. The stack is s0..s{base-1} (untouched, kinds in base_kinds) under
        # the entries in `stack`, of which the first `clean` are still s{base}.. themselves.
        self.chain = _Chain(0)
        self.indent = 0
        self.base = 0
        self.base_kinds: KindStack = None
        self.stack: list[Entry] = []
        self.clean = 0
        self.readers: dict[int, int] = {}  # local -> pending stack entries that read it
        self.locs: list[int] = []

    # small tools

    def emit(self, text: str) -> None:
        self.chain.lines.append((self.indent, text, -1))

    def temp(self) -> str:
        self.temps += 1
        return f"t{self.temps}"

    def where(self, ins: Instr) -> str:
        return self.sites.ref(where_of(self.cf, ins.offset))

    def atom(self, e: Entry) -> Entry:
        return e if e.atom else self.copy(e)

    def copy(self, e: Entry) -> Entry:
        name = self.temp()
        self.emit(f"{name} = {e.expr}")
        return Entry(name, e.kind)

    def push(self, e: Entry) -> None:
        self.stack.append(e)
        for i in e.reads:
            self.readers[i] = self.readers.get(i, 0) + 1

    def reach(self, n: int) -> None:
        """Make the top n slots explicit entries (taking untouched ones from the base)."""
        while len(self.stack) < n:
            self.base -= 1
            if self.base_kinds is None:
                raise BrokenInvariant("the block's base stack ran out")
            kind, self.base_kinds = self.base_kinds
            self.stack.insert(0, Entry(f"s{self.base}", kind))
            self.clean += 1

    def peek(self, n: int) -> list[Entry]:
        self.reach(n)
        return self.stack[len(self.stack) - n :]

    def pop(self) -> Entry:
        self.reach(1)
        e = self.stack.pop()
        self.clean = min(self.clean, len(self.stack))
        for i in e.reads:
            self.readers[i] -= 1
        return e

    def changed(self) -> list[tuple[str, str]]:
        """(s<k>, expression) of every slot whose value is not in its s<k> yet."""
        return [
            (f"s{self.base + j}", self.stack[j].expr)
            for j in range(self.clean, len(self.stack))
            if self.stack[j].expr != f"s{self.base + j}"
        ]

    def dirty(self) -> bool:
        return bool(self.changed())

    def flush(self) -> None:
        """Store every changed slot into its s<k>, so paths that leave from here need not."""
        pairs = self.changed()
        if pairs:
            self.emit(f"{', '.join(n for n, _ in pairs)} = {', '.join(x for _, x in pairs)}")
        for j in range(self.clean, len(self.stack)):
            e = self.stack[j]
            for i in e.reads:
                self.readers[i] -= 1
            self.stack[j] = Entry(f"s{self.base + j}", e.kind)
        self.clean = len(self.stack)

    def pop_atoms(self, n: int) -> list[Entry]:
        items = [self.pop() for _ in range(n)]
        return [self.atom(e) for e in reversed(items)]

    def free_local(self, i: int) -> None:
        """Compute every pending expression that reads local i before it is overwritten.
        Scans down only while some remain, so the scans are paid for by the pushes."""
        k = len(self.stack)
        while self.readers.get(i, 0):
            k -= 1
            e = self.stack[k]
            if i in e.reads:
                name = self.temp()
                self.emit(f"{name} = {e.expr}")
                for j in e.reads:
                    self.readers[j] -= 1
                self.stack[k] = Entry(name, e.kind)

    def target(self, block: Block, pos: int) -> tuple[str, int]:
        """Where an op at instrs[pos] puts its result: straight into a local when the next
        instruction stores it (a fault after that discards the frame anyway), else a temp.
        Returns the name and how many instructions were consumed."""
        if pos + 1 < len(block.instrs) and block.instrs[pos + 1].op is Op.STORE:
            i = block.instrs[pos + 1].arg
            self.free_local(i)
            return f"l{i}", 2
        return self.temp(), 1

    def result(self, name: str, kind: int) -> None:
        if name.startswith("l"):
            self.locs[int(name[1:])] = kind
        else:
            self.push(Entry(name, kind))

    def check_kind(self, e: Entry, kind: int, failure: str) -> None:
        if e.kind != kind:
            self.emit(f"if type({e.expr}) is not {PY_NAME[kind]}: {failure}")

    # control flow

    def goto(self, start: int, inline: bool = True) -> Block | None:
        """Leave for block `start` (materializing the stack into s0..sN), or return it to be
        copied inline next. A taken branch never copies, so nesting stays flat."""
        chain = self.chain
        if inline and start != chain.head and self.can_inline(start):
            return self.blocks[start]
        self.flush()
        if start == chain.head:
            chain.loops = True
        elif start not in self.cases:
            self.cases[start] = len(self.cases)
            self.heads.append(start)
        chain.lines.append((self.indent, GOTO, start))
        return None

    def can_inline(self, start: int) -> bool:
        """Copy a block into the chain if that costs no copy (it is reached only by falling
        through and was not emitted yet), or if it is a short block that jumps back to the
        chain's head (a loop's latch: copying it saves a dispatch per iteration)."""
        if start in self.chain.visited:
            return False
        if start not in self.targets and start not in self.emitted:
            return True
        block = self.blocks[start]
        size = len(block.instrs)
        latch = self.chain.head in successors(block)
        return latch and size <= MAX_INLINE_BLOCK and size <= self.budget

    def emit_block(self, block: Block) -> Block | None:
        """Translate one block; returns the block to copy after it, if any."""
        self.chain.visited.add(block.start)
        if block.start in self.emitted:
            self.budget -= len(block.instrs)
        self.emitted.add(block.start)
        self.emit(f"if (g := g - {block.gas}) < 0: raise OutOfGas")
        pos, last = 0, len(block.instrs) - 1
        while pos < last:
            pos += self.emit_op(block, pos)
        if pos == last:
            return self.emit_last(block, block.instrs[pos])
        return self.goto(block.last.next)  # the last instruction, a STORE, was fused

    def emit_last(self, block: Block, ins: Instr) -> Block | None:
        op = ins.op
        if op is Op.JUMP:
            return self.goto(ins.arg)
        elif op in (Op.JUMPF, Op.JUMPT):
            c = self.pop()
            if c.kind != BOOL:
                c = self.atom(c)
                self.check_kind(c, BOOL, f"bad({self.where(ins)}, {int(op)}, {c.expr})")
            if self.dirty():
                c = self.copy(c)  # the flush below may overwrite an s<k> it reads
            self.flush()  # on the main path, so the taken branch has nothing to store
            taken = c.expr if op is Op.JUMPT else f"not {c.expr}"
            self.emit(f"if {taken}:")
            self.indent += 1
            self.goto(ins.arg, inline=False)
            self.indent -= 1
            return self.goto(ins.next)
        self.emit_op(block, len(block.instrs) - 1)
        if op in (Op.RET, Op.RETV, Op.REVERT):
            return None
        return self.goto(ins.next)

    # ops

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

    # whole function

    def emit_chain(self, head: int) -> _Chain:
        self.chain = _Chain(head)
        self.indent = 0
        self.base_kinds, local_kinds = self.kinds[head]
        height = self.blocks[head].height
        if height is None:
            raise BrokenInvariant("a block that no path reaches was translated")
        self.base, self.stack, self.clean, self.readers = height, [], 0, {}
        self.locs = list(local_kinds)
        block: Block | None = self.blocks[head]
        while block is not None:
            block = self.emit_block(block)
        return self.chain

    def translate(self) -> str:
        chains: dict[int, _Chain] = {}
        heads = self.heads
        for head in heads:  # grows while chains name new cases
            chains[head] = self.emit_chain(head)
        f = self.cf.function
        params = "".join(f", l{i}" for i in range(len(f.params)))
        consts = "".join(f", k{i}=K[{i}]" for i in sorted(self.consts))
        out: list[tuple[int, str]] = [
            (0, f"def f{self.cf.index}(g, d, u, H{params}, *, W=W{self.cf.index}{consts}):"),
            (1, "try:"),
        ]
        for i, param in enumerate(f.params):
            expected = PY_NAME[KIND_OF_VALUE_TYPE[param]]
            check = f"bad_arg({self.sites.ref(f.name)}, {i}, {expected!r}, l{i})"
            out.append((2, f"if type(l{i}) is not {expected}: {check}"))
        out += [(2, f"l{i} = 0") for i in range(len(f.params), f.locals)]
        if len(heads) > 1:
            out += [(2, "b = 0"), (2, "while True:")]
            self.dispatch(heads, chains, 3, out)
        else:
            self.render(chains[0], 2, out)
        out += [
            (1, "except Halt as _e:"),
            (2, "if _e.gas is None:"),
            (3, "_e.gas = g"),
            (2, "raise"),
        ]
        return "".join(f"{INDENT * level}{text}\n" for level, text in out)

    def dispatch(
        self, heads: list[int], chains: dict[int, _Chain], level: int, out: list[tuple[int, str]]
    ) -> None:
        """A binary tree of ifs over the case number (heads are in case order), so a dispatch
        costs O(log cases)."""
        if len(heads) <= 3:
            for n, head in enumerate(heads):
                if n == 0:
                    out.append((level, f"if b == {self.cases[head]}:"))
                elif n < len(heads) - 1:
                    out.append((level, f"elif b == {self.cases[head]}:"))
                else:
                    out.append((level, "else:"))
                self.render(chains[head], level + 1, out)
            return
        mid = len(heads) // 2
        out.append((level, f"if b < {self.cases[heads[mid]]}:"))
        self.dispatch(heads[:mid], chains, level + 1, out)
        out.append((level, "else:"))
        self.dispatch(heads[mid:], chains, level + 1, out)

    def render(self, chain: _Chain, level: int, out: list[tuple[int, str]]) -> None:
        if chain.loops:
            out.append((level, "while True:"))
            level += 1
        for indent, text, target in chain.lines:
            if text != GOTO:
                out.append((level + indent, text))
            elif target == chain.head:
                out.append((level + indent, "continue"))
            else:
                out.append((level + indent, f"b = {self.cases[target]}"))
                out.append((level + indent, "break" if chain.loops else "continue"))


NAMESPACE: dict[str, Any] = {
    "Halt": Halt,
    "OutOfGas": OutOfGas,
    "bad": bad,
    "overflow": overflow,
    "by_zero": by_zero,
    "bad_shift": bad_shift,
    "bad_arg": bad_arg,
    "bad_return": bad_return,
    "too_deep": too_deep,
    "too_many_slots": too_many_slots,
    "op_revert": op_revert,
    **{name: globals()[name] for name in (*HELPERS.values(), *GAS_HELPERS.values())},
    **{f"h_{h.name.lower()}": hostlib.HOST_FUNCTIONS[h] for h in Host},
}

Compiled = Callable[..., tuple[Value | None, int]]


class TranslatedCode:
    """A module's functions as Python functions f<i>(gas, depth, slots, host, *args) ->
    (result, gas left), raising Fault, Revert or OutOfGas. Each is translated on its first
    call (deploying or calling one function never pays for the others); until then f<i> in
    the shared namespace is a stub that translates and calls through."""

    def __init__(self, vm: ValidatedModule) -> None:
        self.vm = vm
        self.namespace: dict[str, Any] = dict(NAMESPACE, K=vm.module.consts)
        self.sources: dict[int, str] = {}
        self.code_size = sum(len(f.code) for f in vm.module.functions)
        self.source_size = 0
        self.lock = threading.Lock()
        for cf in vm.functions:
            self.namespace[f"f{cf.index}"] = self._stub(cf.index)

    def _stub(self, index: int) -> Compiled:
        def stub(*args: Any) -> tuple[Value | None, int]:
            return self.function(index)(*args)

        return stub

    def function(self, index: int) -> Compiled:
        if index not in self.sources:
            with self.lock:
                if index not in self.sources:
                    self._translate(index)
        compiled: Compiled = self.namespace[f"f{index}"]
        return compiled

    def _translate(self, index: int) -> None:
        sites = _Sites()
        source = FunctionTranslator(self.vm, self.vm.functions[index], sites).translate()
        self.namespace[f"W{index}"] = tuple(sites.items)
        exec(compile(source, f"<vm f{index}>", "exec"), self.namespace)
        self.sources[index] = source
        self.source_size += len(source)

    def weight(self) -> int:
        """Bytes of code and generated Python held: what a cache of programs should count."""
        return self.code_size + self.source_size

    def source(self) -> str:
        """The generated Python of every function (translating those not called yet)."""
        for cf in self.vm.functions:
            self.function(cf.index)
        return "\n".join(self.sources[cf.index] for cf in self.vm.functions)
