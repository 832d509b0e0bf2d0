"""One function's code as a list of instructions and labels; the peephole pass (thread jumps,
drop jumps to the next instruction and unreachable code) and the layout to bytes (every jump is
u16).

It knows instructions, not the language: code generation emits into a Code, and only the
function's last step (statements.py `function`) optimizes and assembles it.
"""

from dataclasses import dataclass

from vm.isa import IMM_I8, IMM_NONE, IMM_SIZE, IMM_U8, IMM_U16, OPS, Op


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
