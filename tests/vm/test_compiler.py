"""The contract compiler: accepted programs run on the VM with the results Python gives,
tight code for common shapes, and rejected programs with their exact messages and lines."""

import copy
import math
import textwrap
from pathlib import Path
from typing import Any

import pytest

from chain.address import key_address
from chain.hashing import hash32
from chain.keys import keypair_from_seed
from chain.ledger.transactions import Value
from vm import lang
from vm.compiler import CompileError, compile_file, compile_source, map_key
from vm.host import MemoryHost
from vm.isa import (
    INT_MAX,
    INT_MIN,
    MAX_CALL_DEPTH,
    OPS,
    Host,
    Module,
    Op,
    ValueType,
    decode_module,
    encode_module,
)
from vm.machine import FAULT, OK, REVERT, ExecResult, Program, execute, interpret, load_program


def src(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def compiled(text: str) -> Module:
    return compile_source(src(text), "c.py")


def error_of(text: str) -> str:
    with pytest.raises(CompileError) as info:
        compile_source(src(text), "c.py")
    return info.value.message


def ops(module: Module, name: str) -> list[tuple[str, int | None]]:
    """A function's code as (op name, immediate) pairs; HOST immediates by host name."""
    f = next(f for f in module.functions if f.name == name)
    out: list[tuple[str, int | None]] = []
    i = 0
    while i < len(f.code):
        info = OPS[f.code[i]]
        size = {0: 0, 1: 1, 2: 1, 3: 2}[info.imm]
        arg = int.from_bytes(f.code[i + 1 : i + 1 + size], "big", signed=info.imm == 2)
        out.append((info.op.name, arg if size else None))
        i += 1 + size
    return out


# --- module shape --------------------------------------------------------------------------------


def test_signatures_public_flags_and_declaration_order() -> None:
    module = compiled(
        """
        from gridchain_contract import public

        def helper(a: bytes, b: str) -> None:
            pass

        @public
        def get(flag: bool) -> int:
            x = 1
            y = b""
            return x

        @public
        def name() -> str:
            return "n"
        """
    )
    assert [f.name for f in module.functions] == ["helper", "get", "name"]
    helper, get, name = module.functions
    assert (helper.params, helper.returns, helper.public) == (
        (ValueType.BYTES, ValueType.STR),
        None,
        False,
    )
    assert (get.params, get.returns, get.public, get.locals) == (
        (ValueType.BOOL,),
        ValueType.INT,
        True,
        3,
    )
    assert (name.params, name.returns, name.public, name.locals) == ((), ValueType.STR, True, 0)
    assert decode_module(encode_module(module)) == module


def test_compile_file_gives_the_encoded_module(tmp_path: Path) -> None:
    path = tmp_path / "contract.py"
    path.write_text("def f() -> int:\n    return 7\n")
    code = compile_file(path)
    assert decode_module(code).functions[0].code == bytes([Op.SMALL, 7, Op.RET])
    path.write_text("def f() -> int:\n    return 1.5\n")
    with pytest.raises(CompileError) as info:
        compile_file(path)
    assert info.value.message == f"{path}:2: floats are not allowed"
    assert (info.value.file, info.value.line) == (str(path), 2)


def test_constants_are_inlined_and_pooled_once() -> None:
    module = compiled(
        """
        from typing import Final
        LIMIT: Final = 1000
        NAME: Final[str] = "gc"
        SMALL = -3
        DAY_MS = 24 * 60 * 60 * 1000

        def f(x: int) -> int:
            return x + LIMIT + LIMIT + SMALL + DAY_MS

        def g(s: str) -> str:
            return s + NAME + NAME

        def h() -> int:
            return LIMIT * DAY_MS + SMALL
        """
    )
    assert module.consts == (1000, 86_400_000, "gc", 86_400_000_000 - 3)
    assert ops(module, "f") == [
        ("LOAD", 0),
        ("CONST", 0),
        ("ADD", None),
        ("CONST", 0),
        ("ADD", None),
        ("SMALL", -3),
        ("ADD", None),
        ("CONST", 1),
        ("ADD", None),
        ("RET", None),
    ]
    assert ops(module, "g")[1:] == [
        ("CONST", 2),
        ("CONCAT", None),
        ("CONST", 2),
        ("CONCAT", None),
        ("RET", None),
    ]
    assert ops(module, "h") == [("CONST", 3), ("RET", None)]


# --- code shape ----------------------------------------------------------------------------------


def test_straight_line_code_is_tight() -> None:
    module = compiled(
        """
        def add(a: int, b: int) -> int:
            return a + b

        def pick(c: bool) -> int:
            if c:
                return 1
            return 2

        def nothing() -> None:
            pass
        """
    )
    assert ops(module, "add") == [("LOAD", 0), ("LOAD", 1), ("ADD", None), ("RET", None)]
    assert ops(module, "pick") == [
        ("LOAD", 0),
        ("JUMPF", 8),
        ("SMALL", 1),
        ("RET", None),
        ("SMALL", 2),
        ("RET", None),
    ]
    assert ops(module, "nothing") == [("RETV", None)]


def test_loops_test_at_the_bottom_and_short_circuit_with_jumps() -> None:
    module = compiled(
        """
        def count(n: int) -> int:
            total = 0
            for i in range(n):
                total += i
            return total

        def both(a: int, b: int) -> bool:
            while a > 0 and b > 0:
                a -= 1
            return a == 0
        """
    )
    assert ops(module, "count") == [
        ("SMALL", 0),
        ("STORE", 1),
        ("SMALL", 0),
        ("STORE", 2),  # the loop variable is the counter
        ("JUMP", 25),
        ("LOAD", 1),
        ("LOAD", 2),
        ("ADD", None),
        ("STORE", 1),
        ("LOAD", 2),
        ("SMALL", 1),
        ("ADD", None),
        ("STORE", 2),
        ("LOAD", 2),
        ("LOAD", 0),  # the stop is a parameter the body does not set: read in place
        ("LT", None),
        ("JUMPT", 11),
        ("LOAD", 1),
        ("RET", None),
    ]
    assert ops(module, "both") == [
        ("JUMP", 10),
        ("LOAD", 0),
        ("SMALL", 1),
        ("SUB", None),
        ("STORE", 0),
        ("LOAD", 0),
        ("SMALL", 0),
        ("GT", None),
        ("JUMPF", 26),
        ("LOAD", 1),
        ("SMALL", 0),
        ("GT", None),
        ("JUMPT", 3),
        ("LOAD", 0),
        ("SMALL", 0),
        ("EQ", None),
        ("RET", None),
    ]


def test_map_access_uses_the_storage_host_functions() -> None:
    module = compiled(
        """
        counts = Map(bytes, int)
        K = b"k"

        def bump() -> None:
            counts[K] += 1

        def known(k: bytes) -> bool:
            return k in counts
        """
    )
    assert module.consts == (b"counts:k", b"counts:")
    assert ops(module, "bump") == [
        ("CONST", 0),  # a constant key is folded into the prefix
        ("DUP", None),
        ("SMALL", 0),
        ("HOST", Host.SLOAD),
        ("SMALL", 1),
        ("ADD", None),
        ("HOST", Host.SSTORE),
        ("RETV", None),
    ]
    assert ops(module, "known") == [
        ("CONST", 1),
        ("LOAD", 0),
        ("CONCAT", None),
        ("HOST", Host.SHAS),
        ("RET", None),
    ]


def test_wide_int_constants_are_computed() -> None:
    module = compiled(
        """
        def big() -> int:
            return 2**200 + 12345678901234567890

        def low() -> int:
            return -(2**254) * 2
        """
    )
    assert all(isinstance(c, int) and abs(c) < 2**64 for c in module.consts)
    assert "SHL" in [op for op, _ in ops(module, "big")]


def test_unreachable_code_is_type_checked_but_not_emitted() -> None:
    module = compiled(
        """
        DEBUG = False

        def f(x: int) -> int:
            if DEBUG:
                x = x * 1000
            return x
            x = 5
        """
    )
    assert ops(module, "f") == [("LOAD", 0), ("RET", None)]
    assert (
        error_of(
            """
        def f(x: int) -> int:
            return x
            x = b"no"
        """
        )
        == "c.py:3: x is int (line 1); cannot assign bytes to it"
    )


# --- rejected programs ---------------------------------------------------------------------------

REJECTED = [
    ("def f() -> int:\n    return 1.5\n", "c.py:2: floats are not allowed"),
    (
        "def f(a: int) -> int:\n    return a / 2\n",
        "c.py:2: true division '/' is not supported; use '//'",
    ),
    (
        "def f(a: int) -> None:\n    a /= 2\n",
        "c.py:2: true division '/=' is not supported; use '//='",
    ),
    ("class C:\n    pass\n", "c.py:1: classes are not supported"),
    ("def f() -> None:\n    x = [1, 2]\n", "c.py:2: lists are not supported"),
    ("def f() -> None:\n    x = {1: 2}\n", "c.py:2: dicts are not supported"),
    ("def f() -> None:\n    x = (1, 2)\n", "c.py:2: tuples are not supported"),
    (
        "import os\n",
        "c.py:1: import os is not supported; contracts import only from gridchain_contract",
    ),
    (
        "from os import path\n",
        "c.py:1: imports from os are not supported; contracts import only from gridchain_contract",
    ),
    ("from gridchain_contract import open\n", "c.py:1: gridchain_contract has no name open"),
    (
        "def f(a) -> int:\n    return 1\n",
        "c.py:1: parameter a of f() needs a type annotation (int, bool, bytes or str)",
    ),
    (
        "def f(a: int):\n    return 1\n",
        "c.py:1: f() needs a return annotation (-> int, bool, bytes, str or None)",
    ),
    (
        "def f(a: float) -> int:\n    return 1\n",
        "c.py:1: unsupported type float; use int, bool, bytes or str",
    ),
    (
        "def f(a: int) -> int:\n    return a + b'x'\n",
        "c.py:2: unsupported operand types for +: int and bytes",
    ),
    (
        "def f(a: int) -> int:\n    if a:\n        return 1\n    return 0\n",
        "c.py:2: a condition must be bool, got int (compare explicitly, e.g. x != 0)",
    ),
    (
        "def g(a: int) -> int:\n    return a\n\ndef f() -> int:\n    return g(b'x')\n",
        "c.py:5: argument 1 of g() must be int, got bytes",
    ),
    (
        "def g(a: int) -> int:\n    return a\n\ndef f() -> int:\n    return g(1, 2)\n",
        "c.py:5: g() takes 1 argument, got 2",
    ),
    ("def f() -> int:\n    return y\n", "c.py:2: undefined name y"),
    (
        "def f() -> None:\n    x = 1\n    x = 'one'\n",
        "c.py:3: x is int (line 2); cannot assign str to it",
    ),
    (
        "def f(a: int) -> int:\n    if a > 0:\n        return 1\n",
        "c.py:1: missing return: f() must return int on every path",
    ),
    ("def f() -> None:\n    break\n", "c.py:2: 'break' outside loop"),
    ("def f() -> None:\n    continue\n", "c.py:2: 'continue' outside loop"),
    (
        "def f(n: int) -> None:\n    for i in range(0, 10, n):\n        pass\n",
        "c.py:2: range() step must be a constant non-zero int",
    ),
    (
        "def f() -> None:\n    for i in range(0, 10, 0):\n        pass\n",
        "c.py:2: range() step must be a constant non-zero int",
    ),
    (
        "def f(b: bytes) -> None:\n    for x in b:\n        pass\n",
        "c.py:2: for loops only iterate over range(...)",
    ),
    ("def f() -> None:\n    g = lambda: 1\n", "c.py:2: lambdas are not supported"),
    (
        "def f() -> None:\n    x = [i for i in range(3)]\n",
        "c.py:2: comprehensions are not supported",
    ),
    (
        "def f() -> None:\n    global g\n",
        "c.py:2: global is not supported; module-level state lives in storage maps",
    ),
    (
        "def f() -> None:\n    try:\n        pass\n    except Exception:\n        pass\n",
        'c.py:2: try/except is not supported; use assert or revert("...")',
    ),
    (
        "def f() -> None:\n    raise ValueError\n",
        'c.py:2: raise is not supported; use revert("message")',
    ),
    ("def f() -> None:\n    with g():\n        pass\n", "c.py:2: with is not supported"),
    (
        "def f(a: int) -> str:\n    return f'{a}'\n",
        "c.py:2: f-strings are not supported; use + and str()",
    ),
    (
        "def f(a: int) -> bool:\n    return a is 1\n",
        "c.py:2: 'is' is not supported; use '=='",
    ),
    (
        "def f(a: bytes) -> bool:\n    return 1 in a\n",
        "c.py:2: 'in' is only supported on storage maps",
    ),
    (
        "def f() -> None:\n    def g() -> None:\n        pass\n",
        "c.py:2: nested functions are not supported",
    ),
    (
        "def f() -> int:\n    return x\n    x = 1\n",
        "c.py:2: x is used before it is assigned",
    ),
    (
        "def f(c: bool) -> int:\n    if c:\n        x = 1\n    return x\n",
        "c.py:4: x may be used before it is assigned (not set on every path)",
    ),
    ("LIMIT = 5\ndef f() -> None:\n    LIMIT = 6\n", "c.py:3: cannot assign to constant LIMIT"),
    (
        "m = Map(int, int)\ndef f() -> None:\n    m = 6\n",
        "c.py:3: cannot assign to storage map m; assign to an item: m[key]",
    ),
    (
        "m = Map(int, int)\ndef f() -> None:\n    m[1] = b'x'\n",
        "c.py:3: a value stored in m must be int, got bytes",
    ),
    (
        "m = Map(int, int)\ndef f() -> int:\n    return m[b'k']\n",
        "c.py:3: keys of m are int, got bytes",
    ),
    (
        "def f() -> None:\n    m = Map(int, int)\n",
        "c.py:2: storage maps must be declared at module level",
    ),
    (
        "m = Map(int, float)\n",
        "c.py:1: a storage map is declared Map(KeyType, ValueType) "
        "with types int, bool, bytes or str",
    ),
    ("def f() -> int:\n    return min(a=1, b=2)\n", "c.py:2: keyword arguments are not supported"),
    ("def f(b: bytes) -> str:\n    return b.hex()\n", "c.py:2: method calls are not supported"),
    (
        "def f() -> None:\n    x = revert('no')\n",
        "c.py:2: revert() never returns; use it as a statement",
    ),
    (
        "def g() -> None:\n    pass\ndef f() -> None:\n    x = g()\n",
        "c.py:4: g() returns nothing; it cannot be used as a value",
    ),
    (
        "def f(b: bytes) -> str:\n    return str(b)\n",
        "c.py:2: str() takes an int, got bytes; use text_of(b) to decode bytes",
    ),
    (
        "def f(b: bytes) -> int:\n    return b[-1]\n",
        "c.py:2: negative indexes are not supported; use b[len(b) - n]",
    ),
    (
        "def f() -> int:\n    return 2**256\n",
        "c.py:2: constant expression: result overflows the 256-bit int range",
    ),
    ("def f() -> int:\n    return 1 // 0\n", "c.py:2: constant expression: division by zero"),
    (
        "@staticmethod\ndef f() -> None:\n    pass\n",
        "c.py:1: only the @public decorator is supported",
    ),
    (
        "def f(a: int = 1) -> None:\n    pass\n",
        "c.py:1: default parameter values are not supported",
    ),
    (
        "def f() -> None:\n    a = b = 1\n",
        "c.py:2: chained assignment (a = b = ...) is not supported",
    ),
    (
        "def f() -> None:\n    a, b = 1, 2\n",
        "c.py:2: tuple assignment is not supported; assign one name at a time",
    ),
    ("def f() -> None:\n    x = 1 +\n", "c.py:2: syntax error: invalid syntax"),
    (
        "def f(a: int) -> None:\n    while a > 0:\n        a -= 1\n    else:\n        pass\n",
        "c.py:2: while/else is not supported",
    ),
    (
        "def f() -> None:\n    1 + 2\n",
        "c.py:2: this expression does nothing; only calls can stand alone",
    ),
    (
        "x = height()\n",
        "c.py:1: module-level x must be a constant (int, bool, bytes or str) "
        "or Map(KeyType, ValueType)",
    ),
    ("def len(b: bytes) -> int:\n    return 0\n", "c.py:1: len is a builtin name; choose another"),
    (
        "def f() -> None:\n    pass\ndef f() -> None:\n    pass\n",
        "c.py:3: f is already defined on line 1",
    ),
    (
        "def f(a: bool, b: bool) -> bool:\n    return a < b\n",
        "c.py:2: bool values cannot be ordered with <",
    ),
    (
        "def f(a: int, b: str) -> bool:\n    return a == b\n",
        "c.py:2: cannot compare int with str using ==",
    ),
    (
        "def f(a: int) -> int:\n    return a if a > 0 else b'x'\n",
        "c.py:2: both sides of 'if'/'else' must have one type, got int and bytes",
    ),
    (
        "def f() -> None:\n    print('x')\n",
        "c.py:2: print() is not available in contracts; use emit(topic, data)",
    ),
    (
        "def f(s: str) -> int:\n    return s[0]\n",
        "c.py:2: indexing str is not supported; slice it: s[i:i + 1]",
    ),
    ("def f(b: bytes) -> bytes:\n    return b[::2]\n", "c.py:2: slice steps are not supported"),
    (
        "def f() -> None:\n    return 1\n",
        "c.py:2: f() is declared -> None; it cannot return a value",
    ),
    ("def f() -> int:\n    return\n", "c.py:2: f() must return int"),
    ("def f(a: int) -> int:\n    return ~a\n", "c.py:2: '~' is not supported; use -x - 1"),
    (
        "def f(a: int) -> bool:\n    return not a\n",
        "c.py:2: 'not' needs a bool, got int (compare explicitly, e.g. x != 0)",
    ),
    (
        "def f() -> None:\n    emit('t' * 1, b'')\n",
        "c.py:2: unsupported operand types for *: str and int",
    ),
    (
        "def f() -> None:\n    x = None\n",
        "c.py:2: None is not a value in contracts",
    ),
]


@pytest.mark.parametrize(("source", "message"), REJECTED)
def test_rejected(source: str, message: str) -> None:
    with pytest.raises(CompileError) as info:
        compile_source(source, "c.py")
    assert info.value.message == message
    assert info.value.line == int(message.split(":")[1])
    assert info.value.code == "compile_error"


def test_the_first_error_is_reported() -> None:
    # f's body (line 2) comes before g's bad header (line 4), which comes before h's body (line 7)
    source = src(
        """
        def f() -> int:
            return 1.5

        def g(a) -> int:
            return 1

        def h() -> int:
            return b"x"
        """
    )
    assert error_of(source) == "c.py:2: floats are not allowed"
    assert error_of(source.replace("1.5", "1")) == (
        "c.py:4: parameter a of g() needs a type annotation (int, bool, bytes or str)"
    )
    assert error_of(source.replace("1.5", "1").replace("(a)", "(a: int)")) == (
        "c.py:8: the return value of h() must be int, got bytes"
    )


def test_a_loop_test_error_comes_before_errors_in_the_body() -> None:
    assert (
        error_of(
            """
        def f(a: int) -> None:
            while a:
                a = b"x"
        """
        )
        == "c.py:2: a condition must be bool, got int (compare explicitly, e.g. x != 0)"
    )


def test_map_key_layout() -> None:
    assert map_key("m", b"\x00k") == b"m:\x00k"
    assert map_key("m", "é") == b"m:\xc3\xa9"
    assert map_key("m", -12) == b"m:-12"
    assert map_key("m", True) == b"m:\x01"
    assert map_key("m", False) == b"m:\x00"


def test_extreme_int_literals() -> None:
    module = compiled(
        f"""
        def lo() -> int:
            return {INT_MIN}

        def hi() -> int:
            return {INT_MAX}
        """
    )
    assert len(module.functions) == 2
    assert error_of(f"def f() -> int:\n    return {INT_MAX + 1}\n") == (
        "c.py:2: integer literal outside the 256-bit int range"
    )


# --- programs run on the VM ----------------------------------------------------------------------


def load(text: str) -> Program:
    return load_program(encode_module(compile_source(src(text), "c.py")))


def run(
    program: Program, function: str, *args: Value, host: MemoryHost | None = None
) -> ExecResult:
    """Run on both engines (the translated one and the reference interpreter), check they agree
    on the result and on every effect, and leave the effects in `host`."""
    host = host if host is not None else MemoryHost()
    twin = copy.deepcopy(host)
    result = execute(program, function, args, GAS, host)
    assert interpret(program, function, args, GAS, twin) == result
    assert twin == host
    return result


def value_of(program: Program, function: str, *args: Value, host: MemoryHost | None = None) -> Any:
    result = run(program, function, *args, host=host)
    assert result.status == OK, result.message
    return result.value


GAS = 10_000_000

FACTORIAL = """
    from gridchain_contract import public

    @public
    def fact(n: int) -> int:
        if n <= 1:
            return 1
        return n * fact(n - 1)
    """


def test_factorial_recursion() -> None:
    program = load(FACTORIAL)
    assert [value_of(program, "fact", n) for n in range(8)] == [math.factorial(n) for n in range(8)]
    assert value_of(program, "fact", 57) == math.factorial(57)
    overflow = run(program, "fact", 58)  # 58! is above the VM's 256-bit int bound
    assert overflow.status == FAULT


def test_recursion_is_bounded_by_the_vm() -> None:
    program = load(
        """
        from gridchain_contract import public

        @public
        def depth(n: int) -> int:
            if n == 0:
                return 0
            return 1 + depth(n - 1)
        """
    )
    assert value_of(program, "depth", MAX_CALL_DEPTH - 1) == MAX_CALL_DEPTH - 1
    assert run(program, "depth", MAX_CALL_DEPTH).status == FAULT


def test_fibonacci_loop() -> None:
    program = load(
        """
        from gridchain_contract import public

        @public
        def fib(n: int) -> int:
            a = 0
            b = 1
            for i in range(n):
                t = a + b
                a = b
                b = t
            return a
        """
    )
    expected = [0, 1]
    while len(expected) < 100:
        expected.append(expected[-1] + expected[-2])
    assert [value_of(program, "fib", n) for n in range(100)] == expected
    assert run(program, "fib", 30).gas_used < 30 * 20


COUNTER = """
    from gridchain_contract import Map, caller, public

    counts = Map(bytes, int)
    total = Map(str, int)

    @public
    def bump(by: int) -> int:
        assert by > 0, "by must be positive, got " + str(by)
        counts[caller()] += by
        total["all"] += by
        return counts[caller()]

    @public
    def count_of(who: bytes) -> int:
        return counts[who]

    @public
    def known(who: bytes) -> bool:
        return who in counts

    @public
    def forget() -> None:
        del counts[caller()]
    """


def test_counter_in_a_map() -> None:
    program = load(COUNTER)
    alice, bob = MemoryHost(caller=b"a" * 33), MemoryHost(caller=b"b" * 33)
    bob.storage = alice.storage  # one contract's storage, two callers
    assert value_of(program, "bump", 3, host=alice) == 3
    assert value_of(program, "bump", 4, host=alice) == 7
    assert value_of(program, "bump", 10, host=bob) == 10
    assert alice.storage == {
        map_key("counts", b"a" * 33): 7,
        map_key("counts", b"b" * 33): 10,
        map_key("total", "all"): 17,
    }
    assert value_of(program, "count_of", b"a" * 33, host=alice) == 7
    assert value_of(program, "count_of", b"nobody", host=alice) == 0
    assert value_of(program, "known", b"b" * 33, host=alice) is True
    assert value_of(program, "forget", host=bob) is None
    assert value_of(program, "known", b"b" * 33, host=alice) is False
    refused = run(program, "bump", -2, host=alice)
    assert (refused.status, refused.message) == (REVERT, "by must be positive, got -2")


def test_two_of_three_multisig_with_real_keys() -> None:
    keys = [keypair_from_seed(hash32(b"multisig/" + bytes([i]))) for i in range(3)]
    program = load(
        f"""
        from gridchain_contract import Map, ed25519_verify, emit, public

        K0 = {keys[0].public_key!r}
        K1 = {keys[1].public_key!r}
        K2 = {keys[2].public_key!r}
        approved = Map(bytes, bool)

        def signed(key: bytes, message: bytes, signature: bytes) -> int:
            return 1 if ed25519_verify(key, message, signature) else 0

        @public
        def approve(message: bytes, s0: bytes, s1: bytes, s2: bytes) -> bool:
            votes = signed(K0, message, s0) + signed(K1, message, s1) + signed(K2, message, s2)
            if votes < 2:
                return False
            approved[message] = True
            emit("approved", message)
            return True
        """
    )
    message = b"deploy web-7 to rack 3"
    s = [k.sign(message) for k in keys]
    none = b""
    host = MemoryHost()
    assert value_of(program, "approve", message, s[0], none, none, host=host) is False
    assert value_of(program, "approve", message, s[1], s[0], none, host=host) is False  # swapped
    assert (
        value_of(program, "approve", message, s[0], none, keys[2].sign(b"other"), host=host)
        is False
    )
    assert host.storage == {} and host.events == []
    assert value_of(program, "approve", message, none, s[1], s[2], host=host) is True
    assert value_of(program, "approve", message, s[0], s[1], s[2], host=host) is True
    assert host.storage == {map_key("approved", message): True}
    assert host.events == [("approved", message)] * 2


# --- one contract, run as Python (vm/lang.py) and on the VM: the same results --------------------

PROGRAM = '''
"""Most of the language in one contract (ASCII text only: on chain len(str) counts UTF-8 bytes)."""
from gridchain_contract import (
    Final,
    Map,
    balance,
    bytes_of,
    caller,
    emit,
    hash32,
    height,
    int_from_bytes,
    int_to_bytes,
    key_address,
    now,
    param,
    public,
    revert,
    self_address,
    signer,
    signer_count,
    text_of,
    transfer,
    value,
)

STEP: Final = 3
GREETING: Final[str] = "hi"
BIG = 2**200 + 7
counts = Map(bytes, int)
labels = Map(int, str)
flags = Map(bool, int)
names = Map(str, bytes)
log = Map(int, int)


@public
def arith(a: int, b: int) -> int:
    q = a // b
    r = a % b
    p = a**3 if -50 < a < 50 else 0
    bits = (a << 3) + (a >> 2) + (a & b) + (a | b) - (a ^ b)
    x = q * 1000003 + r * 101 + p + bits + min(a, b) - max(a, b)
    x += BIG - BIG
    x -= -a
    x *= 2
    x //= 3
    x %= 1000000007
    x |= 1
    x &= 0xFFFFFFFF
    x ^= 5
    x <<= 2
    x >>= 1
    x **= 1
    return x


@public
def loops(n: int) -> int:
    total = 0
    for i in range(n, -1, -STEP):
        total += i
    for j in range(2, n):
        if j % 2 == 0:
            continue
        if j > 11:
            break
        total = total * 3 + j
    k = 100
    for k in range(n):
        pass
    for q in range(3):
        q += 10  # no effect on the iteration
        total += q
    w = 0
    while True:
        w += 1
        if w * w > n:
            break
    m = n
    while m > 0 and m % 7 != 0:
        m -= 1
    return total * 1000000 + k * 10000 + w * 100 + m


def explode() -> bool:
    revert("evaluated")


@public
def logic(a: bool, x: int) -> int:
    r = 0
    if a or x != 99 or explode():
        r += 1
    if not a and x == 99 and explode():
        r += 10
    if x == 99 and explode():
        r += 10
    if x < 0 or x > 10 and not a:
        r += 100
    if not (x == 3) and x != 4:
        r += 1000
    c = 0 < x <= 5 != x
    r += 10000 if c else 0
    return r + (1 if a else 2)


def note(x: int) -> int:
    log[0] += 1
    log[log[0]] = x
    return x


@public
def order() -> bool:
    labels[note(1)] = "order" + str(note(2))
    ok = note(3) < note(4) < note(5)
    return ok and note(6) == 6


@public
def text(s: str, b: bytes) -> str:
    t = s + GREETING + str(len(b)) + text_of(b[1:3]) + s[:2] + "|" + s[2:] + "|" + s[1:4]
    if b[0:2] < b"m" and s >= "a":
        t += "<"
    return t + str(b[0]) + str(len(t)) + text_of(bytes_of(s)[0:1]) + s[:] + str(-len(s))


@public
def codec(i: int) -> bytes:
    b = int_to_bytes(i, 8)
    assert int_from_bytes(b) == i, "round trip"
    return b + hash32(b) + int_to_bytes(int_from_bytes(b"\\x01\\x00"), 2)


@public
def store(by: int) -> int:
    counts[caller()] += by
    labels[by] = "x" + str(by)
    flags[by > 5] += 1
    names[labels[by]] = int_to_bytes(by, 4)
    if by == 7:
        del labels[by]
    assert by != 13, "unlucky " + str(by)
    emit("stored", int_to_bytes(by, 1))
    known = 1 if by in labels else 0
    return counts[caller()] * 100 + flags.get(True, 50) + known


@public
def chain_info() -> bytes:
    info = caller() + self_address() + int_to_bytes(height(), 8) + int_to_bytes(now(), 8)
    info += int_to_bytes(value(), 8) + int_to_bytes(signer_count(), 1)
    for i in range(signer_count()):
        info += key_address(signer(i))
    return info + int_to_bytes(param("fee"), 4) + int_to_bytes(balance(self_address()), 8)


@public
def pay(to: bytes, amount: int) -> int:
    transfer(to, amount)
    return balance(to)
'''

CALLS: list[tuple[str, tuple[Value, ...]]] = [
    *[("arith", (a, b)) for a in (-17, -3, 0, 5, 49, 1000) for b in (-4, 1, 7)],
    *[("loops", (n,)) for n in (0, 1, 5, 20, 50)],
    *[("logic", (a, x)) for a in (True, False) for x in (-1, 0, 3, 4, 5, 11, 99)],
    ("order", ()),
    ("text", ("abcdef", b"\x01no")),
    ("text", ("", b"zzz")),
    ("text", ("a", b"")),  # b[0] of empty bytes: a fault on chain, IndexError in Python
    ("codec", (0,)),
    ("codec", (2**64 - 1,)),
    ("codec", (2**64,)),  # does not fit in 8 bytes
    *[("store", (by,)) for by in (1, 7, 6, 13, 7, 2)],
    ("chain_info", ()),
    ("pay", (b"\x01" + b"\x33" * 32, 40)),
    ("pay", (b"\x01" + b"\x33" * 32, 1000)),  # more than the contract has
]


def run_as_python(
    namespace: dict[str, Any], function: str, args: tuple[Value, ...]
) -> tuple[str, Any]:
    try:
        return OK, namespace[function](*args)
    except (lang.Reverted, AssertionError) as exc:
        return REVERT, str(exc)
    except (lang.Faulted, IndexError, ValueError, OverflowError):
        return FAULT, None


def storage_of(namespace: dict[str, Any]) -> dict[bytes, Value]:
    return {
        map_key(name, key): item
        for name, m in namespace.items()
        if isinstance(m, lang.Map)
        for key, item in m._items.items()
    }


def test_the_vm_and_python_agree() -> None:
    signers = tuple(keypair_from_seed(hash32(bytes([i]))).public_key for i in range(2))
    host = MemoryHost(signers=signers, height=42, time_ms=1_700_000_000_123, value=5)
    host.params = {"fee": 7}
    host.balances = {host.self_address: 100}
    context = lang.Context(
        caller=host.caller,
        signers=signers,
        height=42,
        time_ms=1_700_000_000_123,
        self_address=host.self_address,
        value=5,
        balances=dict(host.balances),
        params={"fee": 7},
    )
    lang.install()
    lang.set_context(context)
    try:
        namespace: dict[str, Any] = {"__name__": "program"}
        exec(compile(PROGRAM, "program.py", "exec"), namespace)
        check_program_both_ways(namespace, host, context)
    finally:
        lang.set_context(lang.Context())


def check_program_both_ways(
    namespace: dict[str, Any], host: MemoryHost, context: lang.Context
) -> None:
    program = load_program(encode_module(compile_source(PROGRAM, "program.py")))
    statuses = set()
    for function, args in CALLS:
        status, expected = run_as_python(namespace, function, args)
        result = run(program, function, *args, host=host)
        statuses.add(result.status)
        assert result.status == status, (function, args, result)
        if status == OK:
            assert result.value == expected, (function, args)
        if status == REVERT:
            assert result.message == expected
    assert statuses == {OK, REVERT, FAULT}
    # Neither side drops a failed call's writes (on chain, the runtime's caller does).
    assert host.storage == storage_of(namespace)
    assert map_key("labels", 13) in host.storage
    # the value of an item assignment is evaluated before its key; chained operands once each
    assert [host.storage[map_key("log", i)] for i in range(1, 7)] == [2, 1, 3, 4, 5, 6]
    assert host.events == context.events
    assert host.balances == context.balances


def test_storage_keys_on_the_vm() -> None:
    program = load(
        """
        from gridchain_contract import Map, public

        by_int = Map(int, bool)
        by_bool = Map(bool, str)
        by_str = Map(str, int)

        @public
        def put(i: int, b: bool, s: str) -> None:
            by_int[i] = True
            by_bool[b] = s
            by_str[s] = i
            by_str["const"] = 1
        """
    )
    host = MemoryHost()
    value_of(program, "put", -5, False, "é", host=host)
    value_of(program, "put", INT_MIN, True, "", host=host)
    assert host.storage == {
        b"by_int:-5": True,
        map_key("by_int", INT_MIN): True,
        b"by_bool:\x00": "é",
        b"by_bool:\x01": "",
        b"by_str:\xc3\xa9": -5,
        b"by_str:": INT_MIN,
        b"by_str:const": 1,
    }


def test_the_worked_example_in_the_docs() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "contract-language.md").read_text()
    example = doc.split("```python\n", 1)[1].split("```", 1)[0]
    program = load_program(encode_module(compile_source(example, "deposits.py")))
    alice = b"\x01" + b"\xaa" * 32
    host = MemoryHost(caller=alice, value=25, balances={MemoryHost().self_address: 25})
    assert value_of(program, "deposit", host=host) == 25
    assert host.events == [("deposit", alice)]
    assert value_of(program, "withdraw", 10, host=host) is None
    assert value_of(program, "deposit_of", alice, host=host) == 15
    refused = run(program, "withdraw", 16, host=host)
    assert (refused.status, refused.message) == (REVERT, "cannot withdraw 16 of 15")
    assert value_of(program, "withdraw", 15, host=host) is None
    assert host.storage == {} and host.balances[alice] == 25
    host.value = 3
    refused = run(program, "deposit", host=host)
    assert (refused.status, refused.message) == (REVERT, "deposit at least 10")
    assert run(program, "deposit_of", alice, host=host).gas_used == 161  # as the docs say
    assert ops(program.module, "deposit_of") == [
        ("CONST", 1),
        ("LOAD", 0),
        ("CONCAT", None),
        ("SMALL", 0),
        ("HOST", Host.SLOAD),
        ("RET", None),
    ]


def test_pathological_sources_are_errors_not_crashes() -> None:
    assert error_of("def f() -> str:\n    return '\\ud800'\n") == (
        "c.py:2: a str literal must be valid text (it holds a lone surrogate)"
    )
    # Whether 5000 nested additions fit depends on the recursion limit: either way, no crash.
    deep = "from gridchain_contract import public\n@public\ndef f(a: int) -> int:\n"
    deep += "    return " + "+".join(["a"] * 5000) + "\n"
    try:
        program = load_program(encode_module(compile_source(deep, "c.py")))
    except CompileError as exc:
        assert exc.message in (
            "c.py:1: the source is nested too deeply",
            "c.py:3: too deeply nested; split the expression or statement",
        )
    else:
        assert value_of(program, "f", 3) == 15000


def test_lang_runs_contracts_as_python() -> None:
    lang.install()
    import gridchain_contract  # type: ignore[import-not-found]

    assert gridchain_contract is lang
    m = lang.Map(bytes, int)
    assert (m[b"k"], b"k" in m, m.get(b"k", 7)) == (0, False, 7)
    m[b"k"] += 2
    assert (m[b"k"], b"k" in m) == (2, True)
    del m[b"k"]
    assert b"k" not in m
    with pytest.raises(lang.Reverted, match="no way"):
        lang.revert("no way")
    with pytest.raises(lang.Faulted):
        lang.int_to_bytes(256, 1)
    with pytest.raises(lang.Faulted):
        lang.text_of(b"\xff")
    pair = keypair_from_seed(hash32(b"lang"))
    assert lang.key_address(pair.public_key) == key_address(pair.public_key).raw
    assert lang.ed25519_verify(pair.public_key, b"m", pair.sign(b"m"))
    assert not lang.ed25519_verify(pair.public_key, b"n", pair.sign(b"m"))
    lang.set_context(lang.Context(self_address=b"\x02" * 33, balances={b"\x02" * 33: 5}))
    try:
        with pytest.raises(lang.Faulted):
            lang.transfer(b"\x01" * 33, 6)
        lang.transfer(b"\x01" * 33, 5)
        assert lang.balance(b"\x01" * 33) == 5
    finally:
        lang.set_context(lang.Context())
