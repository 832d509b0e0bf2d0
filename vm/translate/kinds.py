"""The static kind analysis: which kinds each stack slot and local may hold on entry to every
block, so the translator leaves out the kind checks whose outcome is known.

Kinds: a bit set of what a stack slot or local may hold at a program point. A slot whose
kind is a single bit needs no run-time kind check.
"""

from collections.abc import Sequence

from vm.errors import BrokenInvariant
from vm.isa import HOSTS, OPS, Host, Op
from vm.ops import PY_TYPES
from vm.validate import Block, CheckedFunction, Instr, ValidatedModule, stack_effect

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
    Host.SPEC_ERROR: STR,
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
