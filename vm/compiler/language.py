"""The contract language's vocabulary: its four value types, the names a contract may import,
the builtins with their signatures, the operators, and the messages for what it refuses.

Tables, with two small helpers (the type of a constant, the name of a type): every pass of the
compiler reads them, so they sit below all of them.
"""

import ast
from dataclasses import dataclass

from chain.ledger.transactions import Value
from vm.isa import TYPE_NAMES, Host, Op, ValueType

INT, BOOL, BYTES, STR = ValueType.INT, ValueType.BOOL, ValueType.BYTES, ValueType.STR
TYPES_BY_NAME = {name: t for t, name in TYPE_NAMES.items()}
ZERO: dict[ValueType, Value] = {INT: 0, BOOL: False, BYTES: b"", STR: ""}

LANG_MODULES = ("gridchain_contract", "vm.lang")
LANG_EXPORTS = frozenset(
    {
        "Map",
        "public",
        "Final",
        "revert",
        "emit",
        "caller",
        "signer_count",
        "signer",
        "height",
        "now",
        "ed25519_verify",
        "hash32",
        "self_address",
        "value",
        "balance",
        "transfer",
        "key_address",
        "param",
        "spec_error",
        "deploy",
        "undeploy",
        "fund",
        "int_from_bytes",
        "int_to_bytes",
        "bytes_of",
        "text_of",
    }
)


@dataclass(frozen=True)
class Builtin:
    params: tuple[ValueType, ...]
    returns: ValueType | None
    op: Op
    host: Host | None = None


def _host(params: tuple[ValueType, ...], returns: ValueType | None, host: Host) -> Builtin:
    return Builtin(params, returns, Op.HOST, host)


BUILTINS: dict[str, Builtin] = {
    "emit": _host((STR, BYTES), None, Host.EMIT),
    "caller": _host((), BYTES, Host.CALLER),
    "signer_count": _host((), INT, Host.SIGNER_COUNT),
    "signer": _host((INT,), BYTES, Host.SIGNER),
    "height": _host((), INT, Host.HEIGHT),
    "now": _host((), INT, Host.TIME),
    "ed25519_verify": _host((BYTES, BYTES, BYTES), BOOL, Host.ED25519),
    "hash32": _host((BYTES,), BYTES, Host.HASH),
    "self_address": _host((), BYTES, Host.SELF),
    "value": _host((), INT, Host.VALUE),
    "balance": _host((BYTES,), INT, Host.BALANCE),
    "transfer": _host((BYTES, INT), None, Host.TRANSFER),
    "key_address": _host((BYTES,), BYTES, Host.KEY_ADDRESS),
    "param": _host((STR,), INT, Host.PARAM),
    "spec_error": _host((BYTES,), STR, Host.SPEC_ERROR),
    "deploy": _host((INT, INT, BYTES, BYTES), None, Host.DEPLOY),
    "undeploy": _host((INT, STR), None, Host.UNDEPLOY),
    "fund": _host((INT, INT), None, Host.FUND),
    "int_from_bytes": Builtin((BYTES,), INT, Op.BTOI),
    "int_to_bytes": Builtin((INT, INT), BYTES, Op.ITOB),
    "str": Builtin((INT,), STR, Op.ITOS),
    "bytes_of": Builtin((STR,), BYTES, Op.UTF8),
    "text_of": Builtin((BYTES,), STR, Op.TEXT),
    "min": Builtin((INT, INT), INT, Op.MIN),
    "max": Builtin((INT, INT), INT, Op.MAX),
}
SPECIAL_NAMES = frozenset({"revert", "len", "range", "Map", "public", "Final"})
RESERVED = frozenset(BUILTINS) | SPECIAL_NAMES | frozenset(TYPES_BY_NAME)
CONVERSION_HINTS = {
    "int": "int() is not supported; use int_from_bytes(b)",
    "bool": "bool() is not supported; compare explicitly, e.g. x != 0",
    "bytes": "bytes() is not supported; use bytes_of(s) or int_to_bytes(i, width)",
    "print": "print() is not available in contracts; use emit(topic, data)",
}


INT_OPS: dict[type[ast.operator], tuple[str, Op]] = {
    ast.Add: ("+", Op.ADD),
    ast.Sub: ("-", Op.SUB),
    ast.Mult: ("*", Op.MUL),
    ast.FloorDiv: ("//", Op.DIV),
    ast.Mod: ("%", Op.MOD),
    ast.Pow: ("**", Op.POW),
    ast.LShift: ("<<", Op.SHL),
    ast.RShift: (">>", Op.SHR),
    ast.BitAnd: ("&", Op.BAND),
    ast.BitOr: ("|", Op.BOR),
    ast.BitXor: ("^", Op.BXOR),
}
COMPARE_OPS: dict[type[ast.cmpop], tuple[str, Op]] = {
    ast.Eq: ("==", Op.EQ),
    ast.NotEq: ("!=", Op.NE),
    ast.Lt: ("<", Op.LT),
    ast.LtE: ("<=", Op.LE),
    ast.Gt: (">", Op.GT),
    ast.GtE: (">=", Op.GE),
}

UNSUPPORTED_EXPR: dict[type[ast.AST], str] = {
    ast.List: "lists are not supported",
    ast.Tuple: "tuples are not supported",
    ast.Dict: "dicts are not supported",
    ast.Set: "sets are not supported",
    ast.ListComp: "comprehensions are not supported",
    ast.SetComp: "comprehensions are not supported",
    ast.DictComp: "comprehensions are not supported",
    ast.GeneratorExp: "generator expressions are not supported",
    ast.Lambda: "lambdas are not supported",
    ast.JoinedStr: "f-strings are not supported; use + and str()",
    ast.FormattedValue: "f-strings are not supported; use + and str()",
    ast.NamedExpr: "assignment expressions (:=) are not supported",
    ast.Await: "await is not supported",
    ast.Yield: "generators (yield) are not supported",
    ast.YieldFrom: "generators (yield) are not supported",
    ast.Starred: "starred expressions are not supported",
    ast.Attribute: "attribute access is not supported",
    ast.Slice: "slices are only allowed inside [ ]",
}
UNSUPPORTED_STMT: dict[type[ast.AST], str] = {
    ast.ClassDef: "classes are not supported",
    ast.AsyncFunctionDef: "async functions are not supported",
    ast.Try: 'try/except is not supported; use assert or revert("...")',
    ast.TryStar: 'try/except is not supported; use assert or revert("...")',
    ast.Raise: 'raise is not supported; use revert("message")',
    ast.With: "with is not supported",
    ast.AsyncWith: "with is not supported",
    ast.AsyncFor: "async for is not supported",
    ast.Global: "global is not supported; module-level state lives in storage maps",
    ast.Nonlocal: "nonlocal is not supported",
    ast.Match: "match is not supported; use if/elif",
    ast.Import: "imports are only allowed at the top of the module",
    ast.ImportFrom: "imports are only allowed at the top of the module",
}


def type_of(value: Value) -> ValueType:
    if isinstance(value, bool):
        return BOOL
    if isinstance(value, int):
        return INT
    return BYTES if isinstance(value, bytes) else STR


def tn(t: ValueType) -> str:
    """A type's name as messages spell it."""
    return TYPE_NAMES[t]
