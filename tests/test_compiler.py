"""The contract compiler: accepted programs run on the VM with the results Python gives,
tight code for common shapes, and rejected programs with their exact messages and lines."""

import textwrap
from pathlib import Path

import pytest

from chain.address import key_address
from chain.hashing import hash32
from chain.keys import keypair_from_seed
from vm.compiler import CompileError, compile_file, compile_source, map_key
from vm.isa import (
    INT_MAX,
    INT_MIN,
    OPS,
    Host,
    Module,
    Op,
    ValueType,
    decode_module,
    encode_module,
)


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


def test_keys_and_addresses_helpers_agree_with_chain() -> None:
    """Sanity for the multisig test below: key_address and hash32 are the chain's."""
    pair = keypair_from_seed(hash32(b"k"))
    assert len(key_address(pair.public_key).raw) == 33
