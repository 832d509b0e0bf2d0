"""The VM core: every opcode and host function, the limits, gas to the unit, the validator's
rejections and the disassembler.

Every run goes through both engines (translated code and the reference interpreter) on copies
of the same host, and they must agree on the result and on the host's state afterwards; a
seeded generator of random programs pushes the same comparison into corners by hand-written
tests would miss.
"""

import copy
import random
from typing import Any

import pytest

from chain.address import key_address
from chain.hashing import hash32
from chain.keys import keypair_from_seed
from chain.ledger.transactions import Value
from vm import machine
from vm.asm import AssemblyError, assemble, function
from vm.disasm import disassemble
from vm.errors import InvalidCode
from vm.host import MemoryHost
from vm.isa import (
    INT_MAX,
    INT_MIN,
    MAX_BYTES,
    MAX_CALL_DEPTH,
    MAX_STACK,
    Function,
    Module,
    ValueType,
    encode_module,
)
from vm.machine import (
    CALL_GAS,
    ExecResult,
    Program,
    execute,
    interpret,
    load_program,
    prepare,
)
from vm.validate import validate_module

T = ValueType
TYPES = {int: T.INT, bool: T.BOOL, bytes: T.BYTES, str: T.STR}
BIG_GAS = 10_000_000


def both(
    program: Program,
    name: str,
    args: tuple[Any, ...] = (),
    gas: int = BIG_GAS,
    host: MemoryHost | None = None,
) -> tuple[ExecResult, MemoryHost]:
    """Run on both engines; they must agree on everything observable."""
    host = host or MemoryHost()
    fast_host, slow_host = copy.deepcopy(host), copy.deepcopy(host)
    fast = execute(program, name, args, gas, fast_host)
    slow = interpret(program, name, args, gas, slow_host)
    assert fast == slow
    assert type(fast.value) is type(slow.value)
    assert fast_host == slow_host
    return fast, fast_host


def run(
    text: str,
    consts: tuple[Any, ...] = (),
    params: tuple[ValueType, ...] = (),
    returns: ValueType | None = T.INT,
    args: tuple[Any, ...] = (),
    gas: int = BIG_GAS,
    host: MemoryHost | None = None,
    extra: tuple[Function, ...] = (),
) -> ExecResult:
    main = function("main", text, params, returns)
    program = prepare(Module(consts, (main, *extra)))
    return both(program, "main", args, gas, host)[0]


def ok(text: str, **kw: Any) -> Any:
    result = run(text, **kw)
    assert result.status == "ok", result
    return result.value


def faults(text: str, **kw: Any) -> str:
    result = run(text, **kw)
    assert result.status == "fault", result
    return result.message


# Every opcode with its result

OPCODES = [
    ("CONST int", "CONST 0\nRET", (7,), 7),
    ("CONST bytes", "CONST 0\nRET", (b"\x00ab",), b"\x00ab"),
    ("CONST str", "CONST 0\nRET", ("héllo",), "héllo"),
    ("CONST bool", "CONST 0\nRET", (True,), True),
    ("SMALL", "SMALL -128\nRET", (), -128),
    ("POP", "SMALL 1\nSMALL 2\nPOP\nRET", (), 1),
    ("DUP", "SMALL 3\nDUP\nMUL\nRET", (), 9),
    ("SWAP", "SMALL 10\nSMALL 3\nSWAP\nSUB\nRET", (), -7),
    ("OVER", "SMALL 10\nSMALL 3\nOVER\nSUB\nSUB\nRET", (), 17),
    ("TRUE", "TRUE\nRET", (), True),
    ("FALSE", "FALSE\nRET", (), False),
    ("LOAD/STORE", "SMALL 42\nSTORE 1\nLOAD 1\nRET", (), 42),
    ("locals start at 0", "LOAD 0\nRET", (), 0),
    ("ADD", "SMALL 2\nSMALL 3\nADD\nRET", (), 5),
    ("SUB", "SMALL 2\nSMALL 3\nSUB\nRET", (), -1),
    ("MUL", "SMALL -4\nSMALL 3\nMUL\nRET", (), -12),
    ("DIV floors", "SMALL -7\nSMALL 2\nDIV\nRET", (), -4),
    ("MOD sign of divisor", "SMALL 7\nSMALL -2\nMOD\nRET", (), -1),
    ("MOD", "SMALL -7\nSMALL 2\nMOD\nRET", (), 1),
    ("NEG", "SMALL 5\nNEG\nRET", (), -5),
    ("POW", "SMALL 3\nSMALL 4\nPOW\nRET", (), 81),
    ("POW negative base", "SMALL -2\nSMALL 3\nPOW\nRET", (), -8),
    ("POW 0**0", "SMALL 0\nSMALL 0\nPOW\nRET", (), 1),
    ("POW -1**huge", "SMALL -1\nCONST 0\nPOW\nRET", (2**64 - 1,), -1),
    ("SHL", "SMALL 1\nSMALL 10\nSHL\nRET", (), 1024),
    ("SHR arithmetic", "SMALL -16\nSMALL 2\nSHR\nRET", (), -4),
    ("SHR by 256", "SMALL -16\nCONST 0\nSHR\nRET", (256,), -1),
    ("BAND", "SMALL 12\nSMALL -5\nBAND\nRET", (), 8),
    ("BOR", "SMALL 12\nSMALL 3\nBOR\nRET", (), 15),
    ("BXOR", "SMALL 12\nSMALL 10\nBXOR\nRET", (), 6),
    ("MIN", "SMALL 12\nSMALL -3\nMIN\nRET", (), -3),
    ("MAX", "SMALL 12\nSMALL -3\nMAX\nRET", (), 12),
    ("LT int", "SMALL 1\nSMALL 2\nLT\nRET", (), True),
    ("LE int", "SMALL 2\nSMALL 2\nLE\nRET", (), True),
    ("GT int", "SMALL 1\nSMALL 2\nGT\nRET", (), False),
    ("GE int", "SMALL 1\nSMALL 2\nGE\nRET", (), False),
    ("LT bytes", "CONST 0\nCONST 1\nLT\nRET", (b"a", b"ab"), True),
    ("GT str", "CONST 0\nCONST 1\nGT\nRET", ("b", "ab"), True),
    ("EQ int", "SMALL 1\nSMALL 1\nEQ\nRET", (), True),
    ("EQ bool is not int", "TRUE\nSMALL 1\nEQ\nRET", (), False),
    ("EQ bytes is not str", "CONST 0\nCONST 1\nEQ\nRET", (b"a", "a"), False),
    ("NE", "CONST 0\nCONST 1\nNE\nRET", (b"a", b"b"), True),
    ("NE kinds", "FALSE\nSMALL 0\nNE\nRET", (), True),
    ("NOT", "FALSE\nNOT\nRET", (), True),
    ("CONCAT bytes", "CONST 0\nCONST 1\nCONCAT\nRET", (b"ab", b"cd"), b"abcd"),
    ("CONCAT str", "CONST 0\nCONST 1\nCONCAT\nRET", ("é", "x"), "éx"),
    ("LEN bytes", "CONST 0\nLEN\nRET", (b"abc",), 3),
    ("LEN str is UTF-8", "CONST 0\nLEN\nRET", ("é€",), 5),
    ("SLICE bytes", "CONST 0\nSMALL 1\nSMALL 3\nSLICE\nRET", (b"hello",), b"el"),
    ("SLICE clamps", "CONST 0\nSMALL 2\nSMALL 100\nSLICE\nRET", (b"hello",), b"llo"),
    ("SLICE empty", "CONST 0\nSMALL 3\nSMALL 1\nSLICE\nRET", (b"hello",), b""),
    ("SLICE str by code point", "CONST 0\nSMALL 1\nSMALL 3\nSLICE\nRET", ("héllo",), "él"),
    ("INDEX", "CONST 0\nSMALL 1\nINDEX\nRET", (b"\x05\xff",), 255),
    ("BTOI", "CONST 0\nBTOI\nRET", (b"\x01\x00",), 256),
    ("BTOI empty", "CONST 0\nBTOI\nRET", (b"",), 0),
    ("BTOI 32 bytes", "CONST 0\nBTOI\nRET", (b"\x7f" + b"\xff" * 31,), INT_MAX),
    ("ITOB", "CONST 0\nSMALL 2\nITOB\nRET", (258,), b"\x01\x02"),
    ("ITOB 32", "SMALL 1\nSMALL 32\nITOB\nRET", (), b"\x00" * 31 + b"\x01"),
    ("UTF8", "CONST 0\nUTF8\nRET", ("é",), b"\xc3\xa9"),
    ("TEXT", "CONST 0\nTEXT\nRET", (b"\xc3\xa9",), "é"),
    ("ITOS", "SMALL -123\nITOS\nRET", (), "-123"),
    ("JUMP", "JUMP x\nSMALL 1\nRET\nx: SMALL 2\nRET", (), 2),
    ("JUMPF taken", "FALSE\nJUMPF x\nSMALL 1\nRET\nx: SMALL 2\nRET", (), 2),
    ("JUMPF not taken", "TRUE\nJUMPF x\nSMALL 1\nRET\nx: SMALL 2\nRET", (), 1),
    ("JUMPT taken", "TRUE\nJUMPT x\nSMALL 1\nRET\nx: SMALL 2\nRET", (), 2),
    ("JUMPT not taken", "FALSE\nJUMPT x\nSMALL 1\nRET\nx: SMALL 2\nRET", (), 1),
    ("NOP", "NOP\nSMALL 1\nRET", (), 1),
]


@pytest.mark.parametrize(
    ("text", "consts", "expected"), [r[1:] for r in OPCODES], ids=[r[0] for r in OPCODES]
)
def test_opcode(text: str, consts: tuple[Any, ...], expected: Any) -> None:
    value = ok(text, consts=consts, returns=TYPES[type(expected)])
    assert value == expected
    assert type(value) is type(expected)


def test_ops_on_values_of_unknown_kind() -> None:
    """Values that come out of storage have no static kind: the checks run at run time."""
    launder = "CONST 0\nSWAP\nHOST SLOAD\n"  # SLOAD(absent key, default=v) -> v
    text = f"SMALL 20\n{launder}SMALL 22\n{launder}ADD\nDUP\n{launder}LT\nNOT\nJUMPF x\n"
    text += f"CONST 1\n{launder}CONST 2\n{launder}CONCAT\nLEN\nRET\nx: SMALL 0\nRET"
    assert ok(text, consts=(b"k", b"ab", b"cde")) == 5
    message = faults(f"TRUE\n{launder}SMALL 1\nADD\nRET", consts=(b"k",))
    assert message == "main@9: ADD needs two ints, got bool, int"


def test_call_and_return() -> None:
    add = function("add", "LOAD 0\nLOAD 1\nADD\nRET", (T.INT, T.INT), T.INT, public=False)
    note = function("note", "CONST 0\nLOAD 0\nHOST SSTORE\nRETV", (T.INT,), None)
    main = "SMALL 2\nSMALL 3\nCALL 1\nDUP\nCALL 2\nRET"
    program = prepare(Module((b"k",), (function("main", main, returns=T.INT), add, note)))
    result, host = both(program, "main")
    assert result.value == 5
    assert host.storage == {b"k": 5}
    result, host = both(program, "note", (9,))
    assert (result.status, result.value, host.storage) == ("ok", None, {b"k": 9})


def test_declared_types_are_enforced_on_internal_calls() -> None:
    takes_int = function("f", "LOAD 0\nRET", (T.INT,), T.INT, public=False)
    lies = function("g", "TRUE\nRET", (), T.INT, public=False)
    assert faults("TRUE\nCALL 1\nRET", extra=(takes_int,)) == "f: argument 0 must be int, got bool"
    assert (
        faults("CALL 1\nRET", extra=(lies,))
        == "g@1: RET needs int (the declared return type), got bool"
    )


def test_retv_returns_none() -> None:
    assert run("RETV", returns=None) == ExecResult("ok", CALL_GAS + 2, None, "")


def test_revert_with_message() -> None:
    result = run("CONST 0\nREVERT", consts=("not allowed",))
    assert result == ExecResult("revert", CALL_GAS + 2, None, "not allowed")
    assert faults("SMALL 1\nREVERT") == "main@2: REVERT needs a str, got int"


def test_revert_discards_nothing_itself_but_reports_gas() -> None:
    """REVERT may leave values under its message; the gas of both blocks is counted."""
    text = "SMALL 1\nSMALL 2\nJUMP x\nx: CONST 0\nREVERT"
    assert run(text, consts=("no",)) == ExecResult("revert", CALL_GAS + 3 + 2, None, "no")


# Kinds


@pytest.mark.parametrize(
    ("text", "consts", "message"),
    [
        ("TRUE\nSMALL 1\nADD\nRET", (), "main@3: ADD needs two ints, got bool, int"),
        (
            "CONST 0\nSMALL 1\nLT\nRET",
            (b"a",),
            "main@5: LT needs two ints, two bytes or two str, got bytes, int",
        ),
        (
            "TRUE\nFALSE\nLT\nRET",
            (),
            "main@2: LT needs two ints, two bytes or two str, got bool, bool",
        ),
        ("SMALL 1\nNOT\nRET", (), "main@2: NOT needs a bool, got int"),
        ("SMALL 1\nJUMPF x\nx: SMALL 0\nRET", (), "main@2: JUMPF needs a bool, got int"),
        (
            "CONST 0\nCONST 1\nCONCAT\nLEN\nRET",
            (b"a", "a"),
            "main@6: CONCAT needs two bytes or two str, got bytes, str",
        ),
        ("SMALL 1\nLEN\nRET", (), "main@2: LEN needs bytes or a str, got int"),
        (
            "CONST 0\nSMALL 0\nINDEX\nRET",
            ("a",),
            "main@5: INDEX needs bytes and an int, got str, int",
        ),
        (
            "SMALL 1\nITOS\nLEN\nSMALL 0\nSMALL 1\nSLICE\nRET",
            (),
            "main@8: SLICE needs bytes or a str, and two ints, got int, int, int",
        ),
        ("CONST 0\nTEXT\nLEN\nRET", ("a",), "main@3: TEXT needs bytes, got str"),
    ],
)
def test_wrong_kinds_fault(text: str, consts: tuple[Any, ...], message: str) -> None:
    assert faults(text, consts=consts) == message


# Limits


def test_int_overflow_both_directions() -> None:
    assert ok("CONST 0\nSMALL 0\nADD\nRET", consts=(INT_MAX,)) == INT_MAX
    assert (
        faults("CONST 0\nSMALL 1\nADD\nRET", consts=(INT_MAX,))
        == "main@5: ADD result is outside the int range"
    )
    assert (
        faults("CONST 0\nSMALL 1\nSUB\nRET", consts=(INT_MIN,))
        == "main@5: SUB result is outside the int range"
    )
    assert faults("CONST 0\nSMALL -1\nADD\nRET", consts=(INT_MIN,)).endswith(
        "ADD result is outside the int range"
    )
    assert faults("CONST 0\nDUP\nMUL\nRET", consts=(2**128,)).endswith(
        "MUL result is outside the int range"
    )
    assert faults("CONST 0\nNEG\nRET", consts=(INT_MIN,)).endswith(
        "NEG result is outside the int range"
    )
    assert faults("CONST 0\nSMALL -1\nDIV\nRET", consts=(INT_MIN,)).endswith(
        "DIV result is outside the int range"
    )
    assert ok("CONST 0\nSMALL -1\nMOD\nRET", consts=(INT_MIN,)) == 0
    assert ok("CONST 0\nNEG\nRET", consts=(INT_MAX,)) == -INT_MAX


def test_args_reach_overflow_checks() -> None:
    """Ints whose kind is known statically still get their range checked."""
    text = "LOAD 0\nLOAD 1\nADD\nRET"
    assert (
        faults(text, params=(T.INT, T.INT), args=(INT_MAX, 1))
        == "main@4: ADD result is outside the int range"
    )
    assert ok(text, params=(T.INT, T.INT), args=(INT_MAX, INT_MIN)) == -1


def test_division_by_zero() -> None:
    assert faults("SMALL 1\nSMALL 0\nDIV\nRET") == "main@4: DIV by zero"
    assert faults("SMALL 1\nSMALL 0\nMOD\nRET") == "main@4: MOD by zero"


def test_pow_bound_is_checked_before_computing() -> None:
    assert ok("SMALL 2\nCONST 0\nPOW\nRET", consts=(254,)) == 2**254
    assert ok("SMALL -2\nCONST 0\nPOW\nRET", consts=(255,)) == INT_MIN
    assert faults("SMALL 2\nCONST 0\nPOW\nRET", consts=(255,)).endswith(
        "POW result is outside the int range"
    )
    # 3 ** (2**64 - 1) would never finish if it were computed
    assert faults("SMALL 3\nCONST 0\nPOW\nRET", consts=(2**64 - 1,)).endswith(
        "POW result is outside the int range"
    )
    assert faults("SMALL 3\nSMALL -1\nPOW\nRET") == "main@4: POW exponent -1 is negative"


def test_shift_range() -> None:
    assert ok("SMALL 1\nCONST 0\nSHL\nRET", consts=(254,)) == 2**254
    assert faults("SMALL 1\nCONST 0\nSHL\nRET", consts=(255,)).endswith(
        "SHL result is outside the int range"
    )
    assert (
        faults("SMALL 1\nCONST 0\nSHL\nRET", consts=(257,))
        == "main@5: SHL shift 257 is outside 0..256"
    )
    assert faults("SMALL 1\nSMALL -1\nSHR\nRET") == "main@4: SHR shift -1 is outside 0..256"
    assert ok("SMALL 0\nCONST 0\nSHL\nRET", consts=(256,)) == 0


def test_concat_size_cap() -> None:
    half = b"x" * (MAX_BYTES // 2)
    assert ok("CONST 0\nDUP\nCONCAT\nLEN\nRET", consts=(half,)) == MAX_BYTES
    message = faults(
        "CONST 0\nDUP\nCONCAT\nSMALL 1\nSMALL 1\nITOB\nCONCAT\nLEN\nRET", consts=(half,)
    )
    assert message == f"main@10: CONCAT result of {MAX_BYTES + 1} bytes exceeds {MAX_BYTES}"
    text = "é" * (MAX_BYTES // 4)  # 2 bytes each in UTF-8: the cap counts bytes, not characters
    assert faults("CONST 0\nDUP\nCONCAT\nDUP\nCONCAT\nLEN\nRET", consts=(text,)).startswith(
        "main@6: CONCAT result of"
    )


def test_btoi_and_itob_ranges() -> None:
    assert (
        faults("CONST 0\nBTOI\nRET", consts=(b"\x00" * 33,))
        == "main@3: BTOI takes at most 32 bytes, got 33"
    )
    assert (
        faults("CONST 0\nBTOI\nRET", consts=(b"\x80" + b"\x00" * 31,))
        == "main@3: BTOI result is outside the int range"
    )
    assert (
        faults("SMALL 1\nSMALL 0\nITOB\nRET", returns=T.BYTES)
        == "main@4: ITOB width 0 is outside 1..32"
    )
    assert (
        faults("SMALL 1\nSMALL 33\nITOB\nRET", returns=T.BYTES)
        == "main@4: ITOB width 33 is outside 1..32"
    )
    assert (
        faults("CONST 0\nSMALL 1\nITOB\nRET", consts=(256,), returns=T.BYTES)
        == "main@5: ITOB value does not fit in 1 unsigned bytes"
    )
    assert (
        faults("SMALL -1\nSMALL 1\nITOB\nRET", returns=T.BYTES)
        == "main@4: ITOB value does not fit in 1 unsigned bytes"
    )
    assert ok("CONST 0\nSMALL 1\nITOB\nRET", consts=(255,), returns=T.BYTES) == b"\xff"


def test_invalid_utf8_faults() -> None:
    assert (
        faults("CONST 0\nTEXT\nRET", consts=(b"\xff\xfe",), returns=T.STR)
        == "main@3: TEXT got invalid UTF-8"
    )
    assert faults("CONST 0\nTEXT\nRET", consts=(b"\xed\xa0\x80",), returns=T.STR).endswith(
        "invalid UTF-8"
    )


def test_index_and_slice_bounds() -> None:
    assert (
        faults("CONST 0\nSMALL 2\nINDEX\nRET", consts=(b"ab",))
        == "main@5: INDEX 2 is outside bytes of length 2"
    )
    assert (
        faults("CONST 0\nSMALL -1\nINDEX\nRET", consts=(b"ab",))
        == "main@5: INDEX -1 is outside bytes of length 2"
    )
    message = faults("CONST 0\nSMALL -1\nSMALL 1\nSLICE\nRET", consts=(b"ab",), returns=T.BYTES)
    assert message == "main@7: SLICE bounds -1, 1 must not be negative"


def test_stack_limit_is_checked_at_deploy() -> None:
    fits = "SMALL 0\n" * MAX_STACK + "POP\n" * (MAX_STACK - 1) + "RET"
    assert ok(fits) == 0
    with pytest.raises(InvalidCode, match=f"stack height {MAX_STACK + 1} exceeds {MAX_STACK}"):
        prepare(
            Module((), (function("main", "SMALL 0\n" * (MAX_STACK + 1) + "RET", returns=T.INT),))
        )


def test_call_depth_limit() -> None:
    down = function("down", "LOAD 0\nSMALL 1\nADD\nCALL 0\nRET", (T.INT,), T.INT)
    program = prepare(Module((), (down,)))
    result, _ = both(program, "down", (0,))
    assert result.status == "fault"
    assert result.message == f"down@5: CALL exceeds the call depth limit of {MAX_CALL_DEPTH}"
    # every frame's block is paid in full: 64 blocks of LOAD, SMALL, ADD, CALL, RET
    assert result.gas_used == CALL_GAS + MAX_CALL_DEPTH * (1 + 1 + 1 + 10 + 2)


def test_total_slots_limit() -> None:
    """Frames of 200 slots hit MAX_TOTAL_SLOTS (8192) before the depth limit: 40 frames fit."""
    deep = function("deep", "CALL 0\nRETV", (), None, locals=200)
    result, _ = both(prepare(Module((), (deep,))), "deep")
    assert result.message == "deep@0: CALL exceeds 8192 stack and local slots"
    assert result.gas_used == CALL_GAS + 40 * (10 + 2)


def test_recursion_within_limits() -> None:
    fact = function(
        "fact",
        "LOAD 0\nSMALL 1\nLE\nJUMPF rec\nSMALL 1\nRET\n"
        "rec: LOAD 0\nLOAD 0\nSMALL 1\nSUB\nCALL 0\nMUL\nRET",
        (T.INT,),
        T.INT,
    )
    result, _ = both(prepare(Module((), (fact,))), "fact", (20,))
    assert result.value == 2432902008176640000


# Gas


def test_out_of_gas_stops_an_infinite_loop() -> None:
    result = run("loop: JUMP loop", returns=None, gas=100_000)
    assert result == ExecResult("out_of_gas", 100_000, None, "out of gas")


def test_gas_below_the_call_cost() -> None:
    assert run("SMALL 1\nRET", gas=CALL_GAS - 1) == ExecResult(
        "out_of_gas", CALL_GAS - 1, None, "out of gas"
    )


COUNT = (
    "JUMP cond\nbody: LOAD 0\nSMALL 1\nADD\nSTORE 0\n"
    "cond: LOAD 0\nCONST 0\nLT\nJUMPT body\nLOAD 0\nRET"
)


@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_gas_of_a_loop_is_exact(n: int) -> None:
    """CALL_GAS 10, JUMP block 1, n bodies of 4, n + 1 tests of 4, LOAD + RET 3."""
    expected = 10 + 1 + 4 * n + 4 * (n + 1) + 3
    assert run(COUNT, consts=(n,)) == ExecResult("ok", expected, n, "")
    assert run(COUNT, consts=(n,), gas=expected - 1).status == "out_of_gas"


def test_gas_of_dynamic_and_host_costs_is_exact() -> None:
    text = "CONST 0\nCONST 1\nCONST 2\nCONCAT\nHOST SSTORE\nCONST 0\nSMALL 0\nHOST SLOAD\nLEN\nRET"
    consts = (b"key", b"a" * 40, b"b" * 30)
    base = 1 + 1 + 1 + 2 + 200 + 1 + 1 + 100 + 1 + 2  # one block, HOST counts its base gas
    concat = 3  # 70 bytes: 3 started 32-byte units
    sstore = 4 * (3 + 70)
    sload = 1 * 3 + 1 * 70  # the key, then the loaded value
    expected = CALL_GAS + base + concat + sstore + sload
    assert run(text, consts=consts) == ExecResult("ok", expected, 70, "")
    assert run(text, consts=consts, gas=expected - 1) == ExecResult(
        "out_of_gas", expected - 1, None, "out of gas"
    )


def test_a_fault_charges_its_whole_block() -> None:
    """The block's gas is charged on entry: the RET after the faulting ADD is paid for."""
    assert run("SMALL 1\nTRUE\nADD\nRET") == ExecResult(
        "fault", CALL_GAS + 5, None, "main@3: ADD needs two ints, got int, bool"
    )


def test_gas_of_small_values() -> None:
    """An int counts 32 bytes and a bool 1 in host gas."""
    cost = run("CONST 0\nTRUE\nHOST SSTORE\nRETV", consts=(b"k",), returns=None).gas_used
    assert cost == CALL_GAS + 1 + 1 + 200 + 2 + 4 * (1 + 1)
    cost = run("CONST 0\nSMALL 5\nHOST SSTORE\nRETV", consts=(b"k",), returns=None).gas_used
    assert cost == CALL_GAS + 1 + 1 + 200 + 2 + 4 * (1 + 32)


def test_str_gas_counts_utf8_bytes() -> None:
    """UTF8 of 17 two-byte characters: 34 bytes, 2 units of 32."""
    cost = run("CONST 0\nUTF8\nLEN\nRET", consts=("é" * 17,)).gas_used
    assert cost == CALL_GAS + 1 + 2 + 1 + 2 + 2


# External calls


def test_external_call_checks() -> None:
    hidden = function("hidden", "SMALL 1\nRET", (), T.INT, public=False)
    takes = function("takes", "LOAD 1\nRET", (T.INT, T.BYTES), T.BYTES)
    program = prepare(Module((), (takes, hidden)))

    def outcome(name: str, args: tuple[Any, ...]) -> tuple[str, int, str]:
        result, _ = both(program, name, args)
        return result.status, result.gas_used, result.message

    assert outcome("takes", (1, b"x")) == ("ok", CALL_GAS + 3, "")
    assert outcome("hidden", ()) == ("fault", CALL_GAS, "no public function 'hidden'")
    assert outcome("nope", ()) == ("fault", CALL_GAS, "no public function 'nope'")
    assert outcome("takes", (1,)) == ("fault", CALL_GAS, "takes takes 2 arguments, got 1")
    assert outcome("takes", (True, b"")) == (
        "fault",
        CALL_GAS,
        "takes: argument 0 must be int, got bool",
    )
    assert outcome("takes", (1, "x")) == (
        "fault",
        CALL_GAS,
        "takes: argument 1 must be bytes, got str",
    )
    too_big = (
        "fault",
        CALL_GAS,
        "takes: argument 0 is not a value the VM can hold (range or size)",
    )
    assert outcome("takes", (INT_MAX + 1, b"")) == too_big
    assert outcome("takes", (1, b"x" * (MAX_BYTES + 1)))[2].startswith("takes: argument 1 is not")


# Host functions


def pk_address(seed: bytes) -> bytes:
    return key_address(keypair_from_seed(hash32(seed)).public_key).raw


def test_storage_host_functions() -> None:
    host = MemoryHost(storage={b"a": "old"})
    text = """
        CONST 0
        SMALL 9
        HOST SLOAD      ; absent: the default
        CONST 1
        SMALL 0
        HOST SLOAD      ; "old"
        LEN
        ADD
        CONST 1
        HOST SDEL
        CONST 2
        CONST 3
        HOST SSTORE
        CONST 1
        HOST SHAS
        JUMPT bad
        CONST 2
        HOST SHAS
        JUMPF bad
        RET
    bad:
        POP
        SMALL -1
        RET
    """
    program = prepare(
        Module((b"none", b"a", b"b", b"value"), (function("main", text, returns=T.INT),))
    )
    result, after = both(program, "main", host=host)
    assert result.value == 9 + 3
    assert after.storage == {b"b": b"value"}


def test_emit_and_context_host_functions() -> None:
    signer = keypair_from_seed(hash32(b"signer")).public_key
    host = MemoryHost(signers=(signer,), height=77, time_ms=123456, value=5)
    emit = "CONST 0\nCONST 1\nHOST EMIT\n"
    emit += "".join(
        f"CONST 0\nHOST {name}\n{conv}HOST EMIT\n"
        for name, conv in [
            ("CALLER", ""),
            ("SELF", ""),
            ("SIGNER_COUNT", "SMALL 1\nITOB\n"),
            ("HEIGHT", "SMALL 8\nITOB\n"),
            ("TIME", "SMALL 8\nITOB\n"),
            ("VALUE", "SMALL 8\nITOB\n"),
        ]
    )
    emit += "CONST 0\nSMALL 0\nHOST SIGNER\nHOST EMIT\nRETV"
    program = prepare(Module(("t", b"data"), (function("main", emit),)))
    result, after = both(program, "main", host=host)
    assert result.status == "ok", result
    assert [data for _, data in after.events] == [
        b"data",
        host.caller,
        host.self_address,
        b"\x01",
        (77).to_bytes(8, "big"),
        (123456).to_bytes(8, "big"),
        (5).to_bytes(8, "big"),
        signer,
    ]
    assert {topic for topic, _ in after.events} == {"t"}
    out_of_range = prepare(
        Module((), (function("main", "SMALL 1\nHOST SIGNER\nRET", returns=T.BYTES),))
    )
    result, _ = both(out_of_range, "main", host=host)
    assert result.message == "main@2: SIGNER 1 but the transaction has 1 signers"


def test_ed25519_hash_and_key_address() -> None:
    pair = keypair_from_seed(hash32(b"k"))
    sig = pair.sign(b"msg")
    check = "CONST 0\nCONST 1\nCONST 2\nHOST ED25519\nRET"
    assert ok(check, consts=(pair.public_key, b"msg", sig), returns=T.BOOL) is True
    assert ok(check, consts=(pair.public_key, b"msG", sig), returns=T.BOOL) is False
    assert ok(check, consts=(pair.public_key[:5], b"msg", sig), returns=T.BOOL) is False
    assert ok(check, consts=(pair.public_key, b"msg", sig[:63]), returns=T.BOOL) is False
    assert ok("CONST 0\nHOST HASH\nRET", consts=(b"abc",), returns=T.BYTES) == hash32(b"abc")
    addr = "CONST 0\nHOST KEY_ADDRESS\nRET"
    assert ok(addr, consts=(pair.public_key,), returns=T.BYTES) == key_address(pair.public_key).raw
    assert (
        faults(addr, consts=(b"short",), returns=T.BYTES)
        == "main@3: KEY_ADDRESS key must be 32 bytes, got 5"
    )


def test_ed25519_gas_counts_all_inputs() -> None:
    cost = run(
        "CONST 0\nCONST 1\nCONST 2\nHOST ED25519\nRET",
        consts=(b"k" * 32, b"m" * 10, b"s" * 64),
        returns=T.BOOL,
    ).gas_used
    assert cost == CALL_GAS + 3 + 1900 + 2 + (32 + 10 + 64)


def test_balance_and_transfer() -> None:
    me = MemoryHost().self_address
    friend = pk_address(b"friend")
    host = MemoryHost(balances={me: 100})
    text = (
        "CONST 0\nSMALL 30\nHOST TRANSFER\nCONST 0\nHOST BALANCE\nHOST SELF\nHOST BALANCE\nADD\nRET"
    )
    program = prepare(Module((friend,), (function("main", text, returns=T.INT),)))
    result, after = both(program, "main", host=host)
    assert result.value == 100
    assert after.balances == {me: 70, friend: 30}
    broke = MemoryHost(balances={me: 10})
    result, _ = both(program, "main", host=broke)
    assert (result.status, result.message) == (
        "fault",
        "contract balance 10 is below the transfer of 30",
    )
    assert result.gas_used == CALL_GAS + 1 + 1 + 500 + 1 + 100 + 2 + 100 + 1 + 2
    assert (
        faults("CONST 0\nSMALL 0\nHOST TRANSFER\nSMALL 0\nRET", consts=(friend,))
        == "main@5: TRANSFER amount 0 must be positive"
    )
    assert (
        faults("CONST 0\nHOST BALANCE\nRET", consts=(b"short",))
        == "main@3: BALANCE address must be 33 bytes, got 5"
    )


def test_param() -> None:
    host = MemoryHost(params={"epoch_blocks": 100})
    assert ok("CONST 0\nHOST PARAM\nRET", consts=("epoch_blocks",), host=host) == 100
    assert (
        faults("CONST 0\nHOST PARAM\nRET", consts=("nope",), host=host)
        == "unknown chain parameter 'nope'"
    )


def test_host_argument_checks() -> None:
    long_key = b"k" * 257
    assert (
        faults("CONST 0\nSMALL 1\nHOST SSTORE\nSMALL 0\nRET", consts=(long_key,))
        == "main@5: SSTORE key of 257 bytes exceeds 256"
    )
    assert (
        faults("SMALL 1\nSMALL 1\nHOST SSTORE\nSMALL 0\nRET")
        == "main@4: SSTORE needs a bytes key, got int, int"
    )
    assert (
        faults("CONST 0\nCONST 1\nHOST EMIT\nSMALL 0\nRET", consts=("t" * 65, b""))
        == "main@6: EMIT topic of 65 bytes exceeds 64"
    )
    assert (
        faults("CONST 0\nCONST 0\nHOST EMIT\nSMALL 0\nRET", consts=("t",))
        == "main@6: EMIT needs a str topic and bytes, got str, str"
    )
    assert faults("SMALL 1\nHOST HASH\nLEN\nRET") == "main@2: HASH needs bytes, got int"


def test_a_host_fault_keeps_the_gas_charged_before_it() -> None:
    """SLOAD charges for the key before asking the host; a fault after that keeps the charge."""

    class Broken(MemoryHost):
        def sload(self, key: bytes) -> Any:
            from vm.errors import Fault

            raise Fault("storage unavailable")

    result = execute(
        prepare(
            Module(
                (b"key",), (function("main", "CONST 0\nSMALL 0\nHOST SLOAD\nRET", returns=T.INT),)
            )
        ),
        "main",
        (),
        BIG_GAS,
        Broken(),
    )
    assert result == ExecResult(
        "fault", CALL_GAS + 1 + 1 + 100 + 2 + 3, None, "storage unavailable"
    )


# Validator


def invalid(code: bytes | str, consts: tuple[Any, ...] = (), **kw: Any) -> str:
    raw = assemble(code) if isinstance(code, str) else code
    f = Function(
        kw.get("name", "f"),
        kw.get("params", ()),
        kw.get("returns", T.INT),
        True,
        kw.get("locals", 2),
        raw,
    )
    with pytest.raises(InvalidCode) as info:
        validate_module(Module(consts, (f, *kw.get("extra", ()))))
    return info.value.message


def test_validator_rejections() -> None:
    assert invalid(b"\xff") == "function 0 ('f') at offset 0: unknown opcode 0xff"
    assert (
        invalid("SMALL 1\n.byte 0x01\n.byte 0")
        == "function 0 ('f') at offset 2: CONST immediate is truncated"
    )
    assert (
        invalid("JUMP 1\nSMALL 1\nRET")
        == "function 0 ('f') at offset 0: JUMP target 1 is inside an instruction"
    )
    assert (
        invalid("JUMP 100\nSMALL 1\nRET")
        == "function 0 ('f') at offset 0: JUMP target 100 is outside the code"
    )
    assert (
        invalid("ADD\nRET") == "function 0 ('f') at offset 0: ADD needs 2 values, the stack has 0"
    )
    assert (
        invalid("SMALL 1")
        == "function 0 ('f') at offset 0: execution falls off the end of the code"
    )
    assert (
        invalid(b"") == "function 0 ('f') at offset 0: the function has no code (falls off the end)"
    )
    merge = "TRUE\nJUMPF x\nSMALL 1\nx: SMALL 2\nRET"
    assert (
        invalid(merge)
        == "function 0 ('f') at offset 6: stack height 1 (from offset 4) differs from 0"
    )
    assert (
        invalid("CONST 3\nRET", consts=(1,))
        == "function 0 ('f') at offset 0: CONST 3 but the module has 1 constants"
    )
    assert (
        invalid("LOAD 2\nRET")
        == "function 0 ('f') at offset 0: LOAD 2 but the function has 2 locals"
    )
    assert (
        invalid("CALL 1\nRET")
        == "function 0 ('f') at offset 0: CALL 1 but the module has 1 functions"
    )
    assert invalid("HOST 22\nRET") == "function 0 ('f') at offset 0: HOST 22 is not a host function"
    assert (
        invalid("RETV")
        == "function 0 ('f') at offset 0: RETV in a function that returns a value (use RET)"
    )
    assert (
        invalid("SMALL 1\nRET", returns=None)
        == "function 0 ('f') at offset 2: RET in a function that returns nothing (use RETV)"
    )
    assert (
        invalid("SMALL 1\nSMALL 2\nRET")
        == "function 0 ('f') at offset 4: RET needs exactly 1 value on the stack, has 2"
    )
    assert (
        invalid("SMALL 1\nRETV", returns=None)
        == "function 0 ('f') at offset 2: RETV needs an empty stack, has 1"
    )
    assert (
        invalid("REVERT") == "function 0 ('f') at offset 0: REVERT needs 1 values, the stack has 0"
    )


def test_validator_uses_the_callee_signature() -> None:
    two = Function("two", (T.INT, T.INT), T.INT, False, 2, assemble("LOAD 0\nRET"))
    assert (
        invalid("SMALL 1\nCALL 1\nRET", extra=(two,))
        == "function 0 ('f') at offset 2: CALL needs 2 values, the stack has 1"
    )


def test_unreachable_code_is_decoded_but_not_run() -> None:
    assert ok("SMALL 1\nRET\nADD\nADD") == 1  # ADD with an empty stack, never reached
    assert (
        invalid("SMALL 1\nRET\n.byte 0xee") == "function 0 ('f') at offset 3: unknown opcode 0xee"
    )


def test_public_names_are_unique() -> None:
    f = function("same", "SMALL 1\nRET", returns=T.INT)
    with pytest.raises(InvalidCode, match="public function name 'same' is used twice"):
        validate_module(Module((), (f, f)))
    hidden = function("same", "SMALL 1\nRET", returns=T.INT, public=False)
    assert validate_module(Module((), (f, hidden))).exports == {"same": 0}


def test_validated_blocks_and_heights() -> None:
    checked = validate_module(Module((0,), (function("count", COUNT, returns=T.INT),))).functions[0]
    assert [(b.start, b.end, b.gas, b.height) for b in checked.blocks] == [
        (0, 3, 1, 0),
        (3, 10, 4, 0),
        (10, 19, 4, 0),
        (19, 22, 3, 0),
    ]
    assert checked.max_stack == 2


def test_load_program() -> None:
    module = Module((3,), (function("count", COUNT, returns=T.INT),))
    code = encode_module(module)
    program = load_program(code)
    assert load_program(code) is program
    assert program.module == module
    assert execute(program, "count", (), BIG_GAS, MemoryHost()).value == 3
    with pytest.raises(InvalidCode, match="malformed module"):
        load_program(b"\x00garbage")
    bad = encode_module(Module((), (Function("f", (), None, True, 0, b"\xff"),)))
    with pytest.raises(InvalidCode, match="unknown opcode 0xff"):
        load_program(bad)


def test_functions_are_translated_on_first_call() -> None:
    """Deploying translates nothing; a call translates what it runs, callees on their call."""
    callee = function("callee", "SMALL 1\nRET", (), T.INT, public=False)
    unused = function("unused", "SMALL 2\nRET", (), T.INT)
    program = prepare(Module((), (function("main", "CALL 1\nRET", returns=T.INT), callee, unused)))
    assert program.code.sources == {}
    assert execute(program, "main", (), BIG_GAS, MemoryHost()).value == 1
    assert sorted(program.code.sources) == [0, 1]
    assert "def f2(" in program.source  # inspecting translates the rest
    assert sorted(program.code.sources) == [0, 1, 2]


def test_program_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Over its weight the cache keeps only the newest program; a reload behaves the same."""
    monkeypatch.setattr(machine, "CACHE_WEIGHT", 1)
    count = function("count", COUNT, returns=T.INT)
    first_code, second_code = (encode_module(Module((n,), (count,))) for n in (5, 6))
    first = load_program(first_code)
    assert load_program(first_code) is first
    load_program(second_code)
    again = load_program(first_code)
    assert again is not first
    assert execute(again, "count", (), BIG_GAS, MemoryHost()) == execute(
        first, "count", (), BIG_GAS, MemoryHost()
    )


# Translator: shapes that stress the generated code


def test_many_branches_and_a_long_expression_chain() -> None:
    """Thousands of cases (a dispatch tree) and pending expressions that would nest deeply."""
    branches = "".join(
        f"LOAD 0\nSMALL {i % 100}\nLT\nJUMPF s{i}\nLOAD 1\nSMALL 1\nADD\nSTORE 1\ns{i}:\n"
        for i in range(2000)
    )
    chain = "LOAD 1\n" + "LOAD 0\nBXOR\n" * 3000
    text = branches + chain + "RET"
    result = run(text, params=(T.INT,), args=(50,))
    expected = sum(1 for i in range(2000) if i % 100 > 50)
    assert result.value == expected ^ (50 if 3000 % 2 else 0)


def test_loop_with_values_on_the_stack_across_the_back_edge() -> None:
    """Stack slots live across blocks: sum 1..n keeping the total on the stack."""
    text = """
        SMALL 0             ; total
        LOAD 0              ; i = n
    top:
        DUP
        SMALL 0
        GT
        JUMPF done
        SWAP                ; i total
        OVER                ; i total i
        ADD                 ; i total+i
        SWAP
        SMALL 1
        SUB
        JUMP top
    done:
        POP
        RET
    """
    assert ok(text, params=(T.INT,), args=(100,)) == 5050


# Random programs: both engines must agree on everything


CONSTS: tuple[Any, ...] = (
    0,
    1,
    -1,
    7,
    255,
    INT_MAX,
    INT_MIN,
    2**64 - 1,
    True,
    False,
    b"",
    b"ab",
    b"\xff\x00",
    b"\xc3\xa9",
    "x",
    "héllo",
    b"key",
    "topic",
)
KIND = {int: "int", bool: "bool", bytes: "bytes", str: "str"}
INT_BINARY = [
    "ADD",
    "SUB",
    "MUL",
    "DIV",
    "MOD",
    "MIN",
    "MAX",
    "BAND",
    "BOR",
    "BXOR",
    "SHL",
    "SHR",
    "POW",
]
RESULT = {
    **{op: "int" for op in INT_BINARY},
    **{op: "bool" for op in ("LT", "LE", "GT", "GE", "EQ", "NE")},
}


class Generator:
    """Random but mostly well-kinded programs with branches, loops, calls and host calls."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.lines: list[str] = []
        self.stack: list[str] = []
        self.labels = 0

    def label(self) -> str:
        self.labels += 1
        return f"L{self.labels}"

    def emit(self, line: str, pops: int, pushes: list[str]) -> None:
        self.lines.append(line)
        del self.stack[len(self.stack) - pops :]
        self.stack += pushes

    def top(self, n: int) -> list[str]:
        return self.stack[len(self.stack) - n :]

    def push_value(self) -> None:
        rng = self.rng
        choice = rng.randrange(5)
        if choice == 0:
            i = rng.randrange(len(CONSTS))
            self.emit(f"CONST {i}", 0, [KIND[type(CONSTS[i])]])
        elif choice == 1:
            self.emit(f"SMALL {rng.randint(-128, 127)}", 0, ["int"])
        elif choice == 2:
            self.emit(rng.choice(["TRUE", "FALSE"]), 0, ["bool"])
        else:
            self.emit(f"LOAD {rng.randrange(5)}", 0, ["?"])

    NEEDS: dict[str, int] = {
        **dict.fromkeys(["NOT", "NEG", "LEN", "BTOI", "UTF8", "TEXT", "ITOS", "DUP", "POP"], 1),
        **dict.fromkeys(["STORE", "LAUNDER", "HASH", "SSTORE", "EMIT"], 1),
        **dict.fromkeys(["SLOAD", "PUSH", "HEIGHT"], 0),
        "SLICE": 3,
    }
    UNARY: dict[str, str] = {
        "NOT": "bool",
        "NEG": "int",
        "LEN": "int",
        "BTOI": "int",
        "UTF8": "bytes",
        "TEXT": "str",
        "ITOS": "str",
    }
    OPS = [*INT_BINARY, *RESULT, *UNARY, "CONCAT", "SLICE", "INDEX", "ITOB", "DUP", "SWAP", "OVER"]
    OPS += ["POP", "STORE", "PUSH", "PUSH", "LAUNDER", "CALL", "HASH", "SSTORE", "EMIT", "HEIGHT"]
    OPS += ["SLOAD"]
    UNARY_NEEDS = {"NOT": "bool", "NEG": "int", "LEN": "bytes", "BTOI": "bytes", "UTF8": "str"}
    UNARY_NEEDS |= {"TEXT": "bytes", "ITOS": "int"}

    def op(self, floor: int) -> None:
        """One random op on the values above `floor`, well-kinded 90% of the time."""
        rng = self.rng
        for _ in range(10):
            name = rng.choice(self.OPS)
            needs = self.NEEDS.get(name, 2)
            if len(self.stack) - floor < needs or len(self.stack) > 40:
                continue
            top = self.top(needs)
            if self.fits(name, top) or rng.random() < 0.1:
                self.apply(name, top)
                return
        self.push_value()

    def fits(self, name: str, top: list[str]) -> bool:
        def known(kind: str) -> bool:
            return all(k in (kind, "?") for k in top)

        if name in INT_BINARY or name in ("CALL", "INDEX", "ITOB"):
            return known("int") if name != "INDEX" else top[0] in ("bytes", "?")
        if name in RESULT:
            return top[0] == top[1] or name in ("EQ", "NE")
        if name in self.UNARY_NEEDS:
            return top[0] in (self.UNARY_NEEDS[name], "?")
        if name == "CONCAT":
            return top[0] == top[1] and top[0] in ("bytes", "str", "?")
        if name == "SLICE":
            return top[0] in ("bytes", "str", "?")
        if name in ("HASH", "EMIT"):
            return top[0] in ("bytes", "?")
        return True

    def apply(self, name: str, top: list[str]) -> None:
        rng = self.rng
        if name in ("SHL", "SHR", "POW"):
            self.emit(f"POP\nSMALL {rng.randint(0, 9 if name == 'POW' else 127)}", 1, ["int"])
        if name == "ITOB":
            self.emit(f"POP\nSMALL {rng.randint(1, 33)}", 1, ["int"])
        if name == "INDEX":
            self.emit(f"POP\nSMALL {rng.randint(-1, 3)}", 1, ["int"])
        if name in INT_BINARY or name == "INDEX":
            self.emit(name, 2, ["int"])
        elif name in RESULT:
            self.emit(name, 2, ["bool"])
        elif name in self.UNARY:
            self.emit(name, 1, [self.UNARY[name]])
        elif name == "ITOB":
            self.emit(name, 2, ["bytes"])
        elif name == "CONCAT":
            self.emit(name, 2, [top[0]])
        elif name == "SLICE":
            bounds = f"SMALL {rng.randint(0, 4)}\nSMALL {rng.randint(0, 6)}"
            self.emit(f"POP\nPOP\n{bounds}\nSLICE", 3, [top[0]])
        elif name == "DUP":
            self.emit(name, 1, [top[0], top[0]])
        elif name == "SWAP":
            self.emit(name, 2, [top[1], top[0]])
        elif name == "OVER":
            self.emit(name, 2, [top[0], top[1], top[0]])
        elif name == "POP":
            self.emit(name, 1, [])
        elif name == "STORE":
            self.emit(f"STORE {rng.randrange(5)}", 1, [])
        elif name == "PUSH":
            self.push_value()
        elif name == "LAUNDER":
            self.emit(f"CONST {CONSTS.index(b'')}\nSWAP\nHOST SLOAD", 1, ["?"])
        elif name == "SLOAD":
            self.emit(f"CONST {CONSTS.index(b'key')}\nSMALL 0\nHOST SLOAD", 0, ["?"])
        elif name == "CALL":
            self.emit("CALL 1", 2, ["int"])
        elif name == "HASH":
            self.emit("HOST HASH", 1, ["bytes"])
        elif name == "SSTORE":
            self.emit(f"CONST {CONSTS.index(b'key')}\nSWAP\nHOST SSTORE", 1, [])
        elif name == "EMIT":
            self.emit(f"CONST {CONSTS.index('topic')}\nSWAP\nHOST EMIT", 1, [])
        elif name == "HEIGHT":
            self.emit("HOST HEIGHT", 0, ["int"])

    def segment(self, depth: int) -> None:
        """Code that leaves the stack as deep as it found it."""
        floor = len(self.stack)
        for _ in range(self.rng.randint(1, 10)):
            roll = self.rng.random()
            if depth < 2 and roll < 0.08:
                self.branch(depth, floor)
            elif depth < 2 and roll < 0.13:
                self.loop(depth)
            else:
                self.op(floor)
        while len(self.stack) > floor:
            self.emit("POP", 1, [])

    def condition(self, floor: int) -> None:
        roll = self.rng.random()
        if len(self.stack) - floor >= 2 and roll < 0.2:
            self.emit("SWAP", 2, self.top(2)[::-1])  # slots change before the branch
        if self.stack and roll < 0.4:
            # a condition that reads a slot the branch has to store
            self.emit(f"DUP\nSMALL {self.rng.randint(-3, 3)}\nLT", 0, ["bool"])
        elif roll < 0.8:
            self.emit(
                f"LOAD {self.rng.randrange(5)}\nSMALL {self.rng.randint(-3, 3)}\nLT", 0, ["bool"]
            )
        else:
            self.push_value()  # sometimes not a bool: JUMPF must fault
        if self.rng.random() < 0.2:
            self.emit(f"CONST {CONSTS.index(b'')}\nSWAP\nHOST SLOAD", 1, ["?"])

    def branch(self, depth: int, floor: int) -> None:
        other, end = self.label(), self.label()
        self.condition(floor)
        self.emit(f"{self.rng.choice(['JUMPF', 'JUMPT'])} {other}", 1, [])
        self.segment(depth + 1)
        self.lines.append(f"JUMP {end}\n{other}:")
        self.segment(depth + 1)
        self.lines.append(f"{end}:")

    def loop(self, depth: int) -> None:
        top = self.label()
        counter = 5 + depth
        self.lines.append(f"SMALL {self.rng.randint(1, 4)}\nSTORE {counter}\n{top}:")
        self.segment(depth + 1)
        self.lines.append(
            f"LOAD {counter}\nSMALL 1\nSUB\nDUP\nSTORE {counter}\nSMALL 0\nGT\nJUMPT {top}"
        )

    def program(self) -> Program:
        self.segment(0)
        self.lines.append(f"LOAD {self.rng.randrange(5)}\nRET")
        main = function("main", "\n".join(self.lines), (T.INT, T.BYTES), T.INT, locals=7)
        helper = function("add", "LOAD 0\nLOAD 1\nADD\nRET", (T.INT, T.INT), T.INT, public=False)
        return prepare(Module(CONSTS, (main, helper)))


STORED: list[Value] = [5, b"stored", "text", True]


@pytest.mark.parametrize("seed", range(300))
def test_random_programs_agree_on_both_engines(seed: int) -> None:
    rng = random.Random(seed)
    program = Generator(rng).program()
    gas = rng.choice([BIG_GAS, rng.randrange(0, 3000)])
    host = MemoryHost(storage={b"key": rng.choice(STORED)})
    both(program, "main", (rng.randint(-5, 5), b"arg"), gas, host)


def test_random_programs_reach_every_outcome() -> None:
    """Guard against a generator whose programs all fault at once and test nothing."""
    statuses: dict[str, int] = {}
    for seed in range(300):
        rng = random.Random(seed)
        program = Generator(rng).program()
        gas = rng.choice([BIG_GAS, rng.randrange(0, 3000)])
        host = MemoryHost(storage={b"key": rng.choice(STORED)})
        result = execute(program, "main", (rng.randint(-5, 5), b"arg"), gas, host)
        statuses[result.status] = statuses.get(result.status, 0) + 1
    assert statuses.get("ok", 0) >= 30
    assert statuses.get("fault", 0) >= 30
    assert statuses.get("out_of_gas", 0) >= 5


# Disassembler and assembler


def test_disassemble() -> None:
    helper = Function("helper", (T.INT,), None, False, 1, assemble("RETV"))
    main = function(
        "main",
        "CONST 0\nHOST SLOAD\nL: SMALL 0\nCALL 1\nTRUE\nJUMPT L\nRET\n.byte 0x01",
        (T.BYTES,),
        T.INT,
        locals=2,
    )
    text = disassemble(Module((b"k", 5), (main, helper)))
    assert text == (
        "constants: 2\n"
        "\n"
        "function 0 main(bytes) -> int  [public, 2 locals]\n"
        "      0  CONST   0     ; b'k'\n"
        "      3  HOST    SLOAD\n"
        "L0:\n"
        "      5  SMALL   0\n"
        "      7  CALL    1     ; helper\n"
        "      9  TRUE\n"
        "     10  JUMPT   5     ; -> L0\n"
        "     13  RET\n"
        "     14  .byte 0x01\n"
        "\n"
        "function 1 helper(int) -> nothing  [private, 1 locals]\n"
        "      0  RETV\n"
    )


def test_assembler_errors() -> None:
    with pytest.raises(AssemblyError, match="line 1: unknown mnemonic 'FOO'"):
        assemble("FOO")
    with pytest.raises(AssemblyError, match=r"line 2: SMALL operand 200 is outside -128\.\.127"):
        assemble("NOP\nSMALL 200")
    with pytest.raises(AssemblyError, match="line 1: bad operand 'nowhere' for JUMP"):
        assemble("JUMP nowhere")
    with pytest.raises(AssemblyError, match="label 'a' is defined twice"):
        assemble("a: NOP\na: NOP")
    assert assemble("x: JUMP x\nHOST hash") == bytes([0x50, 0, 0, 0x57, 11])


def test_a_broken_translator_invariant_is_a_named_fault_not_an_assert() -> None:
    """`python -O` drops asserts; the VM's invariants end the call as a Fault on every node."""
    from vm.errors import BrokenInvariant, Fault
    from vm.translate.kinds import pull

    with pytest.raises(BrokenInvariant, match="ran out") as raised:
        pull(None, [], 1)
    assert isinstance(raised.value, Fault)
