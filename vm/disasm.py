"""A readable listing of a module, for audits and debugging.

It reads code that has not been validated too: an unknown opcode or a truncated immediate is
shown as raw bytes, an out-of-range operand is marked, and the listing goes on.
"""

from vm.isa import HOSTS, IMM_I8, IMM_NONE, IMM_SIZE, OPS, TYPE_NAMES, Function, Host, Module, Op

_JUMPS = {Op.JUMP, Op.JUMPF, Op.JUMPT}
MAX_SHOWN = 40  # characters of a constant's value shown in a comment


def _header(index: int, f: Function) -> str:
    params = ", ".join(TYPE_NAMES[p] for p in f.params)
    returns = "nothing" if f.returns is None else TYPE_NAMES[f.returns]
    visibility = "public" if f.public else "private"
    return f"function {index} {f.name}({params}) -> {returns}  [{visibility}, {f.locals} locals]"


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _decode(code: bytes) -> list[tuple[int, int, int | None, int]]:
    """(offset, opcode, immediate or None, size) for each instruction, raw bytes included."""
    out: list[tuple[int, int, int | None, int]] = []
    pc = 0
    while pc < len(code):
        info = OPS.get(code[pc])
        size = 1 + (IMM_SIZE[info.imm] if info else 0)
        if info is None or pc + size > len(code):
            out.append((pc, code[pc], None, 1))
            pc += 1
            continue
        raw = code[pc + 1 : pc + size]
        arg = int.from_bytes(raw, "big", signed=info.imm == IMM_I8) if raw else None
        out.append((pc, code[pc], arg, size))
        pc += size
    return out


def _operand(module: Module, op: Op, arg: int, labels: dict[int, str]) -> str:
    if op is Op.CONST:
        if arg < len(module.consts):
            return f"{arg:<6d}; {_shown(module.consts[arg])}"
        return f"{arg:<6d}; <no such constant>"
    if op in _JUMPS:
        return f"{arg:<6d}; -> {labels.get(arg, '<not an instruction start>')}"
    if op is Op.CALL:
        if arg < len(module.functions):
            return f"{arg:<6d}; {module.functions[arg].name}"
        return f"{arg:<6d}; <no such function>"
    if op is Op.HOST:
        return Host(arg).name if arg in HOSTS else f"{arg:<6d}; <no such host function>"
    return str(arg)


def disassemble_function(module: Module, index: int) -> str:
    f = module.functions[index]
    instrs = _decode(f.code)
    starts = {offset for offset, _, _, _ in instrs}
    targets = sorted(
        {arg for _, code, arg, _ in instrs if code in _JUMPS and arg is not None and arg in starts}
    )
    labels = {offset: f"L{n}" for n, offset in enumerate(targets)}
    lines = [_header(index, f)]
    for offset, code, arg, _size in instrs:
        if offset in labels:
            lines.append(f"{labels[offset]}:")
        info = OPS.get(code)
        if info is None or (info.imm != IMM_NONE and arg is None):
            lines.append(f"  {offset:>5}  .byte 0x{code:02x}")
            continue
        text = info.op.name
        if arg is not None:
            text = f"{text:<7} {_operand(module, info.op, arg, labels)}"
        lines.append(f"  {offset:>5}  {text}".rstrip())
    return "\n".join(lines)


def disassemble(module: Module) -> str:
    """Every function: a header line, then `offset  MNEMONIC operand  ; note` per instruction,
    with a label line before each jump target."""
    parts = [f"constants: {len(module.consts)}"]
    parts += [disassemble_function(module, i) for i in range(len(module.functions))]
    return "\n\n".join(parts) + "\n"
