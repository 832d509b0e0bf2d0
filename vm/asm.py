"""A small assembler for function code, for tests, benchmarks and docs.

One instruction per line, `MNEMONIC [operand]`; `name:` defines a label (a jump operand may be a
label or an offset); `HOST` takes a host function name or id; `.byte N` emits a raw byte (to
build invalid code on purpose). `;` and `#` start comments. Example:

        SMALL 0
        STORE 1
    loop:
        LOAD 1
        LOAD 0
        LT
        JUMPF done
        ...
"""

from collections.abc import Sequence

from chain.errors import GridchainError
from vm.isa import (
    IMM_I8,
    IMM_NONE,
    IMM_SIZE,
    IMM_U8,
    IMM_U16,
    OPS,
    Function,
    Host,
    Op,
    ValueType,
)

_RANGES = {IMM_U8: (0, 0xFF), IMM_I8: (-128, 127), IMM_U16: (0, 0xFFFF)}
_JUMPS = {Op.JUMP, Op.JUMPF, Op.JUMPT}


class AssemblyError(GridchainError):
    """Assembly text the assembler refuses (a tool's input, not a chain rule)."""

    code = "bad_assembly"


def _lines(text: str) -> list[tuple[int, str]]:
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(";")[0].split("#")[0].strip()
        if line:
            out.append((number, line))
    return out


def _split(number: int, line: str) -> tuple[list[str], list[str]]:
    """(labels defined on the line, [mnemonic, operand...])."""
    labels = []
    while ":" in line:
        label, line = line.split(":", 1)
        label = label.strip()
        if not label.isidentifier():
            raise AssemblyError(f"line {number}: bad label {label!r}")
        labels.append(label)
        line = line.strip()
    return labels, line.split()


def _size(number: int, words: list[str]) -> int:
    if not words:
        return 0
    if words[0] == ".byte":
        return 1
    op = _opcode(number, words[0])
    return 1 + IMM_SIZE[OPS[op].imm]


def _opcode(number: int, mnemonic: str) -> Op:
    try:
        return Op[mnemonic.upper()]
    except KeyError:
        raise AssemblyError(f"line {number}: unknown mnemonic {mnemonic!r}") from None


def _operand(number: int, op: Op, word: str, labels: dict[str, int]) -> int:
    if op in _JUMPS and word in labels:
        return labels[word]
    if op is Op.HOST and word.upper() in Host.__members__:
        return int(Host[word.upper()])
    try:
        return int(word, 0)
    except ValueError:
        raise AssemblyError(f"line {number}: bad operand {word!r} for {op.name}") from None


def _encode(number: int, words: list[str], labels: dict[str, int]) -> bytes:
    if words[0] == ".byte":
        if len(words) != 2:
            raise AssemblyError(f"line {number}: .byte takes one value")
        return bytes([_operand(number, Op.NOP, words[1], labels) & 0xFF])
    op = _opcode(number, words[0])
    imm = OPS[op].imm
    if len(words) != (1 if imm == IMM_NONE else 2):
        raise AssemblyError(f"line {number}: {op.name} takes {'no' if imm == IMM_NONE else 1}")
    if imm == IMM_NONE:
        return bytes([op])
    value = _operand(number, op, words[1], labels)
    low, high = _RANGES[imm]
    if not low <= value <= high:
        raise AssemblyError(f"line {number}: {op.name} operand {value} is outside {low}..{high}")
    return bytes([op]) + value.to_bytes(IMM_SIZE[imm], "big", signed=imm == IMM_I8)


def assemble(text: str) -> bytes:
    """Function code from a listing; AssemblyError names the line of any mistake."""
    parsed = []
    labels: dict[str, int] = {}
    offset = 0
    for number, line in _lines(text):
        names, words = _split(number, line)
        for name in names:
            if name in labels:
                raise AssemblyError(f"line {number}: label {name!r} is defined twice")
            labels[name] = offset
        if words:
            parsed.append((number, words))
            offset += _size(number, words)
    return b"".join(_encode(number, words, labels) for number, words in parsed)


def function(
    name: str,
    text: str,
    params: Sequence[ValueType] = (),
    returns: ValueType | None = None,
    public: bool = True,
    locals: int | None = None,
) -> Function:
    """A Function from a listing; `locals` defaults to the parameters plus the highest local
    index the code uses."""
    code = assemble(text)
    if locals is None:
        used = [
            int(words[1], 0)
            for _, line in _lines(text)
            for words in [_split(0, line)[1]]
            if len(words) == 2 and words[0].upper() in ("LOAD", "STORE")
        ]
        locals = max([len(params), *(i + 1 for i in used)])
    return Function(name, tuple(params), returns, public, locals, code)
