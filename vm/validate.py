"""Deploy-time validation: everything about the code that can be known without running it.

Run once when code is deployed. A module that passes cannot, at run time, meet an unknown
opcode, a truncated or out-of-range immediate, a jump into the middle of an instruction, a stack
underflow, a stack deeper than MAX_STACK, or the end of a function's code. What is left to check
while running is only what depends on values (kinds, int range, sizes, gas).

Stack rule at the end of a function: RET needs exactly the return value on the stack (height
1), RETV an empty stack (height 0); REVERT needs its message on top and discards whatever lies
below it (height >= 1).

Basic blocks, which carry the gas rule, are cut at: offset 0, every jump target (of any jump in
the function, reachable or not), and the instruction after every block-ending instruction
(JUMP, JUMPF, JUMPT, RET, RETV, REVERT). Code that no path reaches is decoded and its operands
are checked, but it has no stack height and never runs.
"""

from dataclasses import dataclass
from functools import cached_property

from vm.errors import InvalidCode
from vm.isa import (
    HOSTS,
    IMM_I8,
    IMM_SIZE,
    INT_MAX,
    INT_MIN,
    MAX_BYTES,
    MAX_CONSTS,
    MAX_FUNCTION_CODE,
    MAX_FUNCTIONS,
    MAX_LOCALS,
    MAX_PARAMS,
    MAX_STACK,
    OPS,
    Function,
    Module,
    Op,
)

JUMPS = frozenset({Op.JUMP, Op.JUMPF, Op.JUMPT})
CONDITIONAL = frozenset({Op.JUMPF, Op.JUMPT})


@dataclass(frozen=True, slots=True)
class Instr:
    """One decoded instruction; `arg` is the immediate (sign-applied for SMALL), else 0."""

    offset: int
    op: Op
    arg: int
    next: int


@dataclass(frozen=True)
class Block:
    """A straight run of instructions entered only at its start. `gas` is the sum of its
    instructions' base gas (a HOST instruction counts its host function's base gas)."""

    start: int
    end: int
    instrs: tuple[Instr, ...]
    gas: int
    height: int | None  # stack height on entry; None if no path reaches the block

    @property
    def last(self) -> Instr:
        return self.instrs[-1]


@dataclass(frozen=True)
class CheckedFunction:
    index: int
    function: Function
    instrs: tuple[Instr, ...]
    blocks: tuple[Block, ...]
    max_stack: int

    @property
    def frame_slots(self) -> int:
        """What a live frame of this function counts toward MAX_TOTAL_SLOTS."""
        return self.function.locals + self.max_stack

    @cached_property
    def block_map(self) -> dict[int, Block]:
        """Blocks by start offset."""
        return {block.start: block for block in self.blocks}


@dataclass(frozen=True)
class ValidatedModule:
    module: Module
    functions: tuple[CheckedFunction, ...]
    exports: dict[str, int]  # public function name -> index


def _fail(f: Function, index: int, offset: int, why: str) -> InvalidCode:
    return InvalidCode(f"function {index} ({f.name!r}) at offset {offset}: {why}")


def _decode(f: Function, index: int) -> tuple[Instr, ...]:
    """Linear sweep over the whole code: every byte belongs to exactly one instruction."""
    code = f.code
    out: list[Instr] = []
    pc = 0
    while pc < len(code):
        info = OPS.get(code[pc])
        if info is None:
            raise _fail(f, index, pc, f"unknown opcode 0x{code[pc]:02x}")
        size = IMM_SIZE[info.imm]
        if pc + 1 + size > len(code):
            raise _fail(f, index, pc, f"{info.op.name} immediate is truncated")
        raw = code[pc + 1 : pc + 1 + size]
        arg = int.from_bytes(raw, "big", signed=info.imm == IMM_I8) if size else 0
        out.append(Instr(pc, info.op, arg, pc + 1 + size))
        pc += 1 + size
    return tuple(out)


def _check_operand(module: Module, f: Function, index: int, ins: Instr, starts: set[int]) -> None:
    op, arg = ins.op, ins.arg
    if op is Op.CONST and arg >= len(module.consts):
        raise _fail(
            f, index, ins.offset, f"CONST {arg} but the module has {len(module.consts)} constants"
        )
    if op in (Op.LOAD, Op.STORE) and arg >= f.locals:
        raise _fail(f, index, ins.offset, f"{op.name} {arg} but the function has {f.locals} locals")
    if op is Op.CALL and arg >= len(module.functions):
        raise _fail(
            f, index, ins.offset, f"CALL {arg} but the module has {len(module.functions)} functions"
        )
    if op is Op.HOST and arg not in HOSTS:
        raise _fail(f, index, ins.offset, f"HOST {arg} is not a host function")
    if op in JUMPS and arg not in starts:
        where = "outside the code" if arg >= len(f.code) else "inside an instruction"
        raise _fail(f, index, ins.offset, f"{op.name} target {arg} is {where}")


def stack_effect(module: Module, ins: Instr) -> tuple[int, int]:
    """(pops, pushes) of one instruction; CALL and HOST take theirs from the callee."""
    if ins.op is Op.CALL:
        callee = module.functions[ins.arg]
        return len(callee.params), 0 if callee.returns is None else 1
    if ins.op is Op.HOST:
        host = HOSTS[ins.arg]
        return host.pops, host.pushes
    info = OPS[ins.op]
    return info.pops, info.pushes


def _heights(module: Module, f: Function, index: int, instrs: tuple[Instr, ...]) -> dict[int, int]:
    """Stack height before each reachable instruction, by abstract interpretation of the CFG;
    every check that depends on the height is made here."""
    at = {ins.offset: ins for ins in instrs}
    if not instrs:
        raise _fail(f, index, 0, "the function has no code (falls off the end)")
    heights: dict[int, int] = {0: 0}
    work = [0]
    while work:
        ins = at[work.pop()]
        height = heights[ins.offset]
        pops, pushes = stack_effect(module, ins)
        if height < pops:
            raise _fail(
                f, index, ins.offset, f"{ins.op.name} needs {pops} values, the stack has {height}"
            )
        after = height - pops + pushes
        if after > MAX_STACK:
            raise _fail(f, index, ins.offset, f"stack height {after} exceeds {MAX_STACK}")
        _check_end(f, index, ins, height)
        successors: list[int] = []
        if ins.op in JUMPS:
            successors.append(ins.arg)
        if ins.op in CONDITIONAL or not OPS[ins.op].ends_block:
            if ins.next >= len(f.code):
                raise _fail(f, index, ins.offset, "execution falls off the end of the code")
            successors.append(ins.next)
        for target in successors:
            known = heights.get(target)
            if known is None:
                heights[target] = after
                work.append(target)
            elif known != after:
                raise _fail(
                    f,
                    index,
                    target,
                    f"stack height {after} (from offset {ins.offset}) differs from {known}",
                )
    return heights


def _check_end(f: Function, index: int, ins: Instr, height: int) -> None:
    if ins.op is Op.RET:
        if f.returns is None:
            raise _fail(f, index, ins.offset, "RET in a function that returns nothing (use RETV)")
        if height != 1:
            raise _fail(
                f, index, ins.offset, f"RET needs exactly 1 value on the stack, has {height}"
            )
    elif ins.op is Op.RETV:
        if f.returns is not None:
            raise _fail(f, index, ins.offset, "RETV in a function that returns a value (use RET)")
        if height != 0:
            raise _fail(f, index, ins.offset, f"RETV needs an empty stack, has {height}")


def _blocks(instrs: tuple[Instr, ...], heights: dict[int, int]) -> tuple[Block, ...]:
    leaders = {0}
    for ins in instrs:
        if ins.op in JUMPS:
            leaders.add(ins.arg)
        if OPS[ins.op].ends_block:
            leaders.add(ins.next)
    blocks: list[Block] = []
    run: list[Instr] = []
    for ins in instrs:
        if ins.offset in leaders and run:
            blocks.append(_block(run, heights))
            run = []
        run.append(ins)
    if run:
        blocks.append(_block(run, heights))
    return tuple(blocks)


def _block(run: list[Instr], heights: dict[int, int]) -> Block:
    gas = sum(OPS[i.op].gas + (HOSTS[i.arg].gas if i.op is Op.HOST else 0) for i in run)
    return Block(run[0].offset, run[-1].next, tuple(run), gas, heights.get(run[0].offset))


def _check_shape(f: Function, index: int) -> None:
    """What decode_module already guarantees, for modules built in memory (compiler, tests)."""
    if len(f.params) > MAX_PARAMS:
        raise _fail(f, index, 0, f"{len(f.params)} parameters exceed {MAX_PARAMS}")
    if not len(f.params) <= f.locals <= MAX_LOCALS:
        raise _fail(f, index, 0, f"{f.locals} locals is outside {len(f.params)}..{MAX_LOCALS}")
    if len(f.code) > MAX_FUNCTION_CODE:
        raise _fail(f, index, 0, f"{len(f.code)} bytes of code exceed {MAX_FUNCTION_CODE}")


def _check_consts(module: Module) -> None:
    if len(module.consts) > MAX_CONSTS:
        raise InvalidCode(f"{len(module.consts)} constants exceed {MAX_CONSTS}")
    for i, value in enumerate(module.consts):
        if not isinstance(value, int | bytes | str):
            raise InvalidCode(f"constant {i} must be an int, bool, bytes or str")
        if isinstance(value, int) and not INT_MIN <= value <= INT_MAX:
            raise InvalidCode(f"constant {i} is outside the int range")
        if isinstance(value, bytes | str):
            size = len(value.encode()) if isinstance(value, str) else len(value)
            if size > MAX_BYTES:
                raise InvalidCode(f"constant {i} is longer than {MAX_BYTES} bytes")


def check_function(module: Module, index: int) -> CheckedFunction:
    f = module.functions[index]
    _check_shape(f, index)
    instrs = _decode(f, index)
    starts = {ins.offset for ins in instrs}
    for ins in instrs:
        _check_operand(module, f, index, ins, starts)
    heights = _heights(module, f, index, instrs)
    max_stack = 0
    for ins in instrs:
        height = heights.get(ins.offset)
        if height is not None:
            pops, pushes = stack_effect(module, ins)
            max_stack = max(max_stack, height, height - pops + pushes)
    return CheckedFunction(index, f, instrs, _blocks(instrs, heights), max_stack)


def validate_module(module: Module) -> ValidatedModule:
    """Check a module once, at deploy; raises InvalidCode naming the first problem found."""
    if len(module.functions) > MAX_FUNCTIONS:
        raise InvalidCode(f"{len(module.functions)} functions exceed {MAX_FUNCTIONS}")
    _check_consts(module)
    exports: dict[str, int] = {}
    for i, f in enumerate(module.functions):
        if f.public:
            if f.name in exports:
                raise InvalidCode(f"public function name {f.name!r} is used twice")
            exports[f.name] = i
    functions = tuple(check_function(module, i) for i in range(len(module.functions)))
    return ValidatedModule(module, functions, exports)
