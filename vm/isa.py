"""The instruction set: opcodes, their operands, stack effects and gas; host functions; limits;
and the module format deployed on chain.

This file is the specification the validator, the interpreter, the compiler and the
disassembler share. An instruction is one opcode byte followed by its immediate operand, if any
(big-endian, of the width the opcode's `imm` gives). Jump targets are byte offsets into the
same function's code and must be the start of an instruction.

Values on the stack are of four kinds: int (bounded to [INT_MIN, INT_MAX]; leaving the range is a
fault), bool, bytes and str (each at most MAX_BYTES long, str counted in UTF-8 bytes).
Constants in a module are limited to the 64-bit CBOR range; wider ints are computed.
"""

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from chain.encoding import (
    MAX_INT,
    MIN_INT,
    decode,
    encode,
    expect_bool,
    expect_bytes,
    expect_int,
    expect_list,
    expect_map,
    expect_text,
)
from chain.errors import EncodingError

# Limits (checked at deploy time where static, before allocating where dynamic)

INT_BITS = 256
INT_MIN = -(2 ** (INT_BITS - 1))
INT_MAX = 2 ** (INT_BITS - 1) - 1
MAX_BYTES = 8 * 1024  # one bytes or str value
MAX_STACK = 1024  # operand stack slots of one frame (deploy-time: from stack heights)
MAX_TOTAL_SLOTS = 8192  # stack + locals over all live frames, checked on CALL
MAX_LOCALS = 255
MAX_CALL_DEPTH = 64
MAX_FUNCTIONS = 256
MAX_CONSTS = 4096
MAX_FUNCTION_CODE = 64 * 1024
MAX_MODULE_SIZE = 96 * 1024  # fits a deploy transaction (chain MAX_TX_SIZE)
MAX_PARAMS = 16
MAX_SHIFT = INT_BITS


class Op(IntEnum):
    """Opcodes. Stack effects are written (inputs -- outputs), top of stack last."""

    # stack
    CONST = 0x01  # u16 const index  ( -- v)
    SMALL = 0x02  # i8 value           ( -- int)
    POP = 0x03  # (v -- )
    DUP = 0x04  # (v -- v v)
    SWAP = 0x05  # (a b -- b a)
    OVER = 0x06  # (a b -- a b a)
    TRUE = 0x07  # ( -- True)
    FALSE = 0x08  # ( -- False)
    # locals
    LOAD = 0x10  # u8 local index      ( -- v)
    STORE = 0x11  # u8 local index     (v -- )
    # integer arithmetic: overflow of [INT_MIN, INT_MAX] is a fault
    ADD = 0x20  # (a b -- a+b)
    SUB = 0x21  # (a b -- a-b)
    MUL = 0x22  # (a b -- a*b)
    DIV = 0x23  # (a b -- a//b)  floor division; b == 0 is a fault
    MOD = 0x24  # (a b -- a%b)   Python sign rules; b == 0 is a fault
    NEG = 0x25  # (a -- -a)
    POW = 0x26  # (a b -- a**b)  0 <= b; result bounded before computing (bit length check)
    SHL = 0x27  # (a b -- a<<b)  0 <= b <= MAX_SHIFT
    SHR = 0x28  # (a b -- a>>b)  0 <= b <= MAX_SHIFT
    BAND = 0x29  # (a b -- a&b)
    BOR = 0x2A  # (a b -- a|b)
    BXOR = 0x2B  # (a b -- a^b)
    MIN = 0x2C  # (a b -- min)
    MAX = 0x2D  # (a b -- max)
    # comparison and logic
    LT = 0x30  # (a b -- bool)  ints, or two bytes, or two str
    LE = 0x31
    GT = 0x32
    GE = 0x33
    EQ = 0x34  # (a b -- bool)  values of different kinds are unequal (True != 1)
    NE = 0x35
    NOT = 0x36  # (bool -- bool)
    # bytes and str
    CONCAT = 0x40  # (a b -- a+b)  both bytes or both str; size checked before joining
    LEN = 0x41  # (v -- int)    bytes: bytes; str: UTF-8 bytes
    SLICE = 0x42  # (v i j -- v[i:j])  Python slice rules for non-negative i, j; bytes or str
    INDEX = 0x43  # (bytes i -- int)  0 <= i < len, else fault
    BTOI = 0x44  # (bytes -- int)  unsigned big-endian, at most 32 bytes
    ITOB = 0x45  # (int width -- bytes)  unsigned big-endian in `width` (1..32) bytes
    UTF8 = 0x46  # (str -- bytes)
    TEXT = 0x47  # (bytes -- str)  invalid UTF-8 is a fault
    ITOS = 0x48  # (int -- str)   decimal
    # control
    JUMP = 0x50  # u16 target
    JUMPF = 0x51  # u16 target  (bool -- )  jump if False
    JUMPT = 0x52  # u16 target  (bool -- )  jump if True
    CALL = 0x53  # u8 function index (args -- result?)  per the callee's signature
    RET = 0x54  # (v -- )  return a value (function declares a return type)
    RETV = 0x55  # ( -- )  return nothing (function declares no return type)
    REVERT = 0x56  # (str -- )  revert the call with a message
    HOST = 0x57  # u8 host function id; stack effect per HOSTS
    NOP = 0x58


IMM_NONE, IMM_U8, IMM_I8, IMM_U16 = 0, 1, 2, 3
IMM_SIZE = {IMM_NONE: 0, IMM_U8: 1, IMM_I8: 1, IMM_U16: 2}


@dataclass(frozen=True)
class OpInfo:
    op: Op
    imm: int  # IMM_* kind
    pops: int  # -1: depends (CALL, HOST)
    pushes: int
    gas: int  # base gas, charged before the op runs
    ends_block: bool = False  # control leaves the straight line after this op


def _ops() -> dict[int, OpInfo]:
    o = Op
    table = [
        OpInfo(o.CONST, IMM_U16, 0, 1, 1),
        OpInfo(o.SMALL, IMM_I8, 0, 1, 1),
        OpInfo(o.POP, IMM_NONE, 1, 0, 1),
        OpInfo(o.DUP, IMM_NONE, 1, 2, 1),
        OpInfo(o.SWAP, IMM_NONE, 2, 2, 1),
        OpInfo(o.OVER, IMM_NONE, 2, 3, 1),
        OpInfo(o.TRUE, IMM_NONE, 0, 1, 1),
        OpInfo(o.FALSE, IMM_NONE, 0, 1, 1),
        OpInfo(o.LOAD, IMM_U8, 0, 1, 1),
        OpInfo(o.STORE, IMM_U8, 1, 0, 1),
        OpInfo(o.ADD, IMM_NONE, 2, 1, 1),
        OpInfo(o.SUB, IMM_NONE, 2, 1, 1),
        OpInfo(o.MUL, IMM_NONE, 2, 1, 2),
        OpInfo(o.DIV, IMM_NONE, 2, 1, 3),
        OpInfo(o.MOD, IMM_NONE, 2, 1, 3),
        OpInfo(o.NEG, IMM_NONE, 1, 1, 1),
        OpInfo(o.POW, IMM_NONE, 2, 1, 10),
        OpInfo(o.SHL, IMM_NONE, 2, 1, 1),
        OpInfo(o.SHR, IMM_NONE, 2, 1, 1),
        OpInfo(o.BAND, IMM_NONE, 2, 1, 1),
        OpInfo(o.BOR, IMM_NONE, 2, 1, 1),
        OpInfo(o.BXOR, IMM_NONE, 2, 1, 1),
        OpInfo(o.MIN, IMM_NONE, 2, 1, 1),
        OpInfo(o.MAX, IMM_NONE, 2, 1, 1),
        OpInfo(o.LT, IMM_NONE, 2, 1, 1),
        OpInfo(o.LE, IMM_NONE, 2, 1, 1),
        OpInfo(o.GT, IMM_NONE, 2, 1, 1),
        OpInfo(o.GE, IMM_NONE, 2, 1, 1),
        OpInfo(o.EQ, IMM_NONE, 2, 1, 1),
        OpInfo(o.NE, IMM_NONE, 2, 1, 1),
        OpInfo(o.NOT, IMM_NONE, 1, 1, 1),
        OpInfo(o.CONCAT, IMM_NONE, 2, 1, 2),  # + 1 per 32 bytes of result
        OpInfo(o.LEN, IMM_NONE, 1, 1, 1),
        OpInfo(o.SLICE, IMM_NONE, 3, 1, 2),  # + 1 per 32 bytes of result
        OpInfo(o.INDEX, IMM_NONE, 2, 1, 1),
        OpInfo(o.BTOI, IMM_NONE, 1, 1, 2),
        OpInfo(o.ITOB, IMM_NONE, 2, 1, 2),
        OpInfo(o.UTF8, IMM_NONE, 1, 1, 2),  # + 1 per 32 bytes
        OpInfo(o.TEXT, IMM_NONE, 1, 1, 2),  # + 1 per 32 bytes
        OpInfo(o.ITOS, IMM_NONE, 1, 1, 5),
        OpInfo(o.JUMP, IMM_U16, 0, 0, 1, ends_block=True),
        OpInfo(o.JUMPF, IMM_U16, 1, 0, 1, ends_block=True),
        OpInfo(o.JUMPT, IMM_U16, 1, 0, 1, ends_block=True),
        OpInfo(o.CALL, IMM_U8, -1, -1, 10),
        OpInfo(o.RET, IMM_NONE, 1, 0, 2, ends_block=True),
        OpInfo(o.RETV, IMM_NONE, 0, 0, 2, ends_block=True),
        OpInfo(o.REVERT, IMM_NONE, 1, 0, 1, ends_block=True),
        OpInfo(o.HOST, IMM_U8, -1, -1, 0),  # gas per HOSTS
        OpInfo(o.NOP, IMM_NONE, 0, 0, 1),
    ]
    return {int(info.op): info for info in table}


OPS: dict[int, OpInfo] = _ops()
BYTES_PER_GAS = 32  # dynamic gas: 1 per started 32 bytes for CONCAT, SLICE, UTF8, TEXT


class Host(IntEnum):
    """Host functions, called with HOST id. Stack effects and gas in HOSTS."""

    SLOAD = 0  # (key:bytes default -- value)  value stored under key, else default
    SHAS = 1  # (key:bytes -- bool)
    SSTORE = 2  # (key:bytes value -- )  value: int, bool, bytes or str
    SDEL = 3  # (key:bytes -- )
    EMIT = 4  # (topic:str data:bytes -- )  appends an audit log entry
    CALLER = 5  # ( -- address:bytes)  the transaction's sender (raw address)
    SIGNER_COUNT = 6  # ( -- int)
    SIGNER = 7  # (i -- public_key:bytes)  i-th signer of the transaction
    HEIGHT = 8  # ( -- int)  from the block header
    TIME = 9  # ( -- int)  block time in ms, from the header
    ED25519 = 10  # (public_key:bytes message:bytes signature:bytes -- bool)
    HASH = 11  # (bytes -- bytes32)  the chain's hash (BLAKE2b-256)
    SELF = 12  # ( -- address:bytes)  this contract's raw address
    VALUE = 13  # ( -- int)  credits the transaction sent with the call
    BALANCE = 14  # (address:bytes -- int)  balance of any account (0 if none)
    TRANSFER = 15  # (address:bytes amount:int -- )  from this contract's balance
    KEY_ADDRESS = 16  # (public_key:bytes -- address:bytes)  the key's raw address
    PARAM = 17  # (name:str -- int)  an integer chain parameter from genesis (prices, epochs)
    SPEC_ERROR = 18  # (spec:bytes -- str)  why the chain would not place this spec, or ""
    DEPLOY = 19  # (wid:int version:int spec:bytes payer:bytes -- )  have the chain place it
    UNDEPLOY = 20  # (wid:int reason:str -- )  end the deployment: release, tear down, refund
    FUND = 21  # (wid:int amount:int -- )  from this contract's balance into the escrow


@dataclass(frozen=True)
class HostInfo:
    host: Host
    pops: int
    pushes: int
    gas: int  # base gas
    gas_per_byte: int = 0  # per byte of the data the function reads or writes


HOSTS: dict[int, HostInfo] = {
    int(h.host): h
    for h in [
        HostInfo(Host.SLOAD, 2, 1, 100, 1),
        HostInfo(Host.SHAS, 1, 1, 100, 1),
        HostInfo(Host.SSTORE, 2, 0, 200, 4),
        HostInfo(Host.SDEL, 1, 0, 100, 1),
        HostInfo(Host.EMIT, 2, 0, 200, 4),
        HostInfo(Host.CALLER, 0, 1, 2),
        HostInfo(Host.SIGNER_COUNT, 0, 1, 2),
        HostInfo(Host.SIGNER, 1, 1, 2),
        HostInfo(Host.HEIGHT, 0, 1, 2),
        HostInfo(Host.TIME, 0, 1, 2),
        HostInfo(Host.ED25519, 3, 1, 1900, 1),
        HostInfo(Host.HASH, 1, 1, 30, 1),
        HostInfo(Host.SELF, 0, 1, 2),
        HostInfo(Host.VALUE, 0, 1, 2),
        HostInfo(Host.BALANCE, 1, 1, 100),
        HostInfo(Host.TRANSFER, 2, 0, 500),
        HostInfo(Host.KEY_ADDRESS, 1, 1, 30),
        HostInfo(Host.PARAM, 1, 1, 20),
        HostInfo(Host.SPEC_ERROR, 1, 1, 200, 2),
        HostInfo(Host.DEPLOY, 4, 0, 5000, 4),
        HostInfo(Host.UNDEPLOY, 2, 0, 2000),
        HostInfo(Host.FUND, 2, 0, 1000),
    ]
}

MAX_STORAGE_KEY = 256
MAX_EVENT_TOPIC = 64

# Module format


class ValueType(IntEnum):
    """Parameter and return types of public functions (checked on every external call)."""

    INT = 1
    BOOL = 2
    BYTES = 3
    STR = 4


TYPE_NAMES = {
    ValueType.INT: "int",
    ValueType.BOOL: "bool",
    ValueType.BYTES: "bytes",
    ValueType.STR: "str",
}


@dataclass(frozen=True)
class Function:
    name: str
    params: tuple[ValueType, ...]
    returns: ValueType | None
    public: bool
    locals: int  # local slots including the parameters (params are locals 0..n-1)
    code: bytes


@dataclass(frozen=True)
class Module:
    consts: tuple[int | bool | bytes | str, ...]
    functions: tuple[Function, ...]


VERSION = 1


def function_to_value(f: Function) -> dict[str, Any]:
    return {
        "name": f.name,
        "params": [int(p) for p in f.params],
        "returns": 0 if f.returns is None else int(f.returns),
        "public": f.public,
        "locals": f.locals,
        "code": f.code,
    }


def module_to_value(module: Module) -> dict[str, Any]:
    return {
        "version": VERSION,
        "consts": list(module.consts),
        "functions": [function_to_value(f) for f in module.functions],
    }


def encode_module(module: Module) -> bytes:
    return encode(module_to_value(module))


def _value_type(value: Any, what: str) -> ValueType:
    code = expect_int(value, what, 1, len(ValueType))
    return ValueType(code)


def function_from_value(value: Any, i: int) -> Function:
    what = f"function {i}"
    f = expect_map(value, what, ("name", "params", "returns", "public", "locals", "code"))
    params = tuple(
        _value_type(p, f"{what} parameter type")
        for p in expect_list(f["params"], f"{what} params", MAX_PARAMS)
    )
    returns_code = expect_int(f["returns"], f"{what} return type", 0, len(ValueType))
    locals_ = expect_int(f["locals"], f"{what} locals", 0, MAX_LOCALS)
    if locals_ < len(params):
        raise EncodingError(f"{what} has fewer locals ({locals_}) than parameters")
    return Function(
        name=expect_text(f["name"], f"{what} name", 64),
        params=params,
        returns=None if returns_code == 0 else ValueType(returns_code),
        public=expect_bool(f["public"], f"{what} public"),
        locals=locals_,
        code=expect_bytes(f["code"], f"{what} code", None, MAX_FUNCTION_CODE),
    )


def _const(value: Any, i: int) -> int | bool | bytes | str:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return expect_int(value, f"constant {i}", MIN_INT, MAX_INT)
    if isinstance(value, bytes):
        return expect_bytes(value, f"constant {i}", None, MAX_BYTES)
    if isinstance(value, str):
        text = expect_text(value, f"constant {i}", MAX_BYTES)
        if len(text.encode()) > MAX_BYTES:
            raise EncodingError(f"constant {i} is longer than {MAX_BYTES} bytes")
        return text
    raise EncodingError(f"constant {i} must be an int, bool, bytes or str")


def decode_module(data: bytes) -> Module:
    """Parse deployed code; raises EncodingError naming what is malformed."""
    if len(data) > MAX_MODULE_SIZE:
        raise EncodingError(f"module of {len(data)} bytes exceeds {MAX_MODULE_SIZE}")
    f = expect_map(decode(data), "module", ("version", "consts", "functions"))
    version = expect_int(f["version"], "module version", 0, 2**16)
    if version != VERSION:
        raise EncodingError(f"module version {version} is not supported (expected {VERSION})")
    consts = tuple(
        _const(v, i) for i, v in enumerate(expect_list(f["consts"], "constants", MAX_CONSTS))
    )
    functions = tuple(
        function_from_value(v, i)
        for i, v in enumerate(expect_list(f["functions"], "functions", MAX_FUNCTIONS))
    )
    return Module(consts, functions)
