"""Running contract code: load (decode and validate; cached by code hash; each function is
translated to Python on its first call) and execute.

Gas, exactly (both engines, `execute` and the reference `interpret`, follow it to the unit):

1. An external call first pays CALL_GAS (what a CALL instruction costs). If the function is
   not public, or the arguments do not match its parameters (count, kinds, int range, sizes),
   the call faults having used CALL_GAS.
2. Entering a basic block (see vm/validate.py for where blocks are cut) charges the block's
   base gas: the sum of its instructions' OPS gas, with HOSTS gas for HOST instructions. If
   that is more than the gas left, the call is out of gas. A fault later in the block does not
   refund the rest of the block.
3. Dynamic gas is charged by the instruction that incurs it, after its operands are checked
   and before the work is done: CONCAT, SLICE, UTF8 and TEXT pay 1 per started BYTES_PER_GAS
   bytes of their result (TEXT: of its input, and invalid UTF-8 faults after that charge);
   host functions pay per byte (vm/host.py; SLOAD pays for the value after loading it).
4. Out of gas uses the whole limit. A fault or revert uses what was charged until then. The
   caller throws away the state changes of any call that does not end "ok".

Other run-time rules: a CALL faults if the new frame would be deeper than MAX_CALL_DEPTH
(the external call is depth 1), or if the frames' slots (locals + validated max stack height
of each live frame) would exceed MAX_TOTAL_SLOTS; the depth is checked first. Declared
parameter and return types are enforced at every call and return, internal ones included, so
a function may rely on them. Non-parameter locals start as the int 0.
"""

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chain.errors import EncodingError
from chain.hashing import hash32
from chain.ledger.transactions import Value
from vm import ops as sem
from vm.errors import BrokenInvariant, Fault, Halt, InvalidCode, OutOfGas, Revert
from vm.host import HOST_FUNCTIONS, HostApi, charge, is_value, kind_name
from vm.isa import (
    HOSTS,
    MAX_CALL_DEPTH,
    MAX_TOTAL_SLOTS,
    OPS,
    TYPE_NAMES,
    Module,
    Op,
    decode_module,
)
from vm.translate import TranslatedCode
from vm.validate import Block, CheckedFunction, ValidatedModule, validate_module

OK = "ok"
REVERT = "revert"
FAULT = "fault"
OUT_OF_GAS = "out_of_gas"
CALL_GAS = OPS[Op.CALL].gas
CACHE_PROGRAMS = 256
CACHE_WEIGHT = 32 << 20  # translated code holds ~7 bytes of memory per byte of generated source


@dataclass(frozen=True)
class ExecResult:
    status: str  # OK, REVERT, FAULT or OUT_OF_GAS
    gas_used: int
    value: Value | None  # what an "ok" call returned (None for a function returning nothing)
    message: str  # the revert or fault message; "" when ok


@dataclass(frozen=True)
class Program:
    """Validated code, ready to run; each function is translated to Python on first call."""

    code_hash: bytes
    checked: ValidatedModule
    code: TranslatedCode

    @property
    def module(self) -> Module:
        return self.checked.module

    @property
    def source(self) -> str:
        """The generated Python, for inspection."""
        return self.code.source()


def prepare(module: Module, code_hash: bytes = b"") -> Program:
    """Validate a module built in memory (the compiler, tests) and make it runnable."""
    checked = validate_module(module)
    return Program(code_hash, checked, TranslatedCode(checked))


_cache: OrderedDict[bytes, Program] = OrderedDict()
_cache_lock = threading.Lock()


def load_program(code: bytes) -> Program:
    """Decode and validate deployed code (InvalidCode if it is not acceptable); functions are
    translated when first called. Cached by code hash, least recently used first out, within
    CACHE_PROGRAMS programs and CACHE_WEIGHT bytes of code and generated Python: a hit
    returns what a miss would compute."""
    key = hash32(code)
    with _cache_lock:
        program = _cache.get(key)
        if program is not None:
            _cache.move_to_end(key)
            _evict()
            return program
    try:
        module = decode_module(code)
    except EncodingError as exc:
        raise InvalidCode(f"malformed module: {exc.message}") from None
    program = prepare(module, key)
    with _cache_lock:
        _cache[key] = program
        _evict()
    return program


def _weight(program: Program) -> int:
    return program.code.weight()


def _evict() -> None:
    """Drop the least recently used programs until the cache fits (keeping the newest)."""
    total = sum(_weight(p) for p in _cache.values())
    while len(_cache) > 1 and (len(_cache) > CACHE_PROGRAMS or total > CACHE_WEIGHT):
        _, dropped = _cache.popitem(last=False)
        total -= _weight(dropped)


Engine = Callable[[Program, int, int, HostApi, tuple[Value, ...]], tuple[Value | None, int]]


def _translated(
    program: Program, index: int, gas: int, host: HostApi, args: tuple[Value, ...]
) -> tuple[Value | None, int]:
    slots = program.checked.functions[index].frame_slots
    return program.code.function(index)(gas, 1, slots, host, *args)


def execute(
    program: Program, function: str, args: tuple[Value, ...], gas_limit: int, host: HostApi
) -> ExecResult:
    """Call public `function` with `args`; never raises for anything the code does."""
    return _call(_translated, program, function, args, gas_limit, host)


def interpret(
    program: Program, function: str, args: tuple[Value, ...], gas_limit: int, host: HostApi
) -> ExecResult:
    """`execute` by the reference interpreter: one instruction at a time, every check made.
    Slow; it is the yardstick the translated code is tested against."""
    return _call(_interpreted, program, function, args, gas_limit, host)


def _call(
    engine: Engine,
    program: Program,
    function: str,
    args: tuple[Value, ...],
    gas_limit: int,
    host: HostApi,
) -> ExecResult:
    if gas_limit < 0:
        raise ValueError(f"gas limit {gas_limit} is negative")
    try:
        gas = charge(gas_limit, CALL_GAS)
    except OutOfGas:
        return ExecResult(OUT_OF_GAS, gas_limit, None, "out of gas")
    index = program.checked.exports.get(function)
    if index is None:
        return ExecResult(FAULT, CALL_GAS, None, f"no public function {function!r}")
    problem = _check_args(program.checked.functions[index], args)
    if problem:
        return ExecResult(FAULT, CALL_GAS, None, problem)
    try:
        value, gas = engine(program, index, gas, host, tuple(args))
    except OutOfGas:
        return ExecResult(OUT_OF_GAS, gas_limit, None, "out of gas")
    except Halt as exc:
        left = exc.gas if exc.gas is not None else 0
        status = REVERT if isinstance(exc, Revert) else FAULT
        return ExecResult(status, gas_limit - left, None, exc.message)
    return ExecResult(OK, gas_limit - gas, value, "")


def _check_args(cf: CheckedFunction, args: tuple[Any, ...]) -> str:
    """Why `args` cannot be passed to the function from outside, or ""."""
    f = cf.function
    if len(args) != len(f.params):
        return f"{f.name} takes {len(f.params)} arguments, got {len(args)}"
    for i, (arg, param) in enumerate(zip(args, f.params, strict=True)):
        if type(arg) is not sem.PY_TYPES[param]:
            return f"{f.name}: argument {i} must be {TYPE_NAMES[param]}, got {kind_name(arg)}"
        if not is_value(arg):
            return f"{f.name}: argument {i} is not a value the VM can hold (range or size)"
    return ""


# The reference interpreter


BINARY: dict[Op, Callable[[str, Any, Any], Value]] = {
    Op.ADD: sem.op_add,
    Op.SUB: sem.op_sub,
    Op.MUL: sem.op_mul,
    Op.DIV: sem.op_div,
    Op.MOD: sem.op_mod,
    Op.POW: sem.op_pow,
    Op.SHL: sem.op_shl,
    Op.SHR: sem.op_shr,
    Op.BAND: sem.op_band,
    Op.BOR: sem.op_bor,
    Op.BXOR: sem.op_bxor,
    Op.MIN: sem.op_min,
    Op.MAX: sem.op_max,
    Op.LT: sem.op_lt,
    Op.LE: sem.op_le,
    Op.GT: sem.op_gt,
    Op.GE: sem.op_ge,
    Op.EQ: sem.op_eq,
    Op.NE: sem.op_ne,
    Op.INDEX: sem.op_index,
    Op.ITOB: sem.op_itob,
}
UNARY: dict[Op, Callable[[str, Any], Value]] = {
    Op.NEG: sem.op_neg,
    Op.NOT: sem.op_not,
    Op.LEN: sem.op_len,
    Op.BTOI: sem.op_btoi,
    Op.ITOS: sem.op_itos,
}
WITH_GAS: dict[Op, Callable[..., tuple[Value, int]]] = {
    Op.CONCAT: sem.op_concat,
    Op.SLICE: sem.op_slice,
    Op.UTF8: sem.op_utf8,
    Op.TEXT: sem.op_text,
}


def _interpreted(
    program: Program, index: int, gas: int, host: HostApi, args: tuple[Value, ...]
) -> tuple[Value | None, int]:
    cf = program.checked.functions[index]
    return _frame(program, cf, gas, 1, cf.frame_slots, host, list(args))


def _frame(
    program: Program,
    cf: CheckedFunction,
    gas: int,
    depth: int,
    slots: int,
    host: HostApi,
    args: list[Value],
) -> tuple[Value | None, int]:
    f = cf.function
    try:
        for i, (arg, param) in enumerate(zip(args, f.params, strict=True)):
            if type(arg) is not sem.PY_TYPES[param]:
                sem.bad_arg(f.name, i, TYPE_NAMES[param], arg)
        locs: list[Any] = args + [0] * (f.locals - len(args))
        stack: list[Any] = []
        blocks = cf.block_map
        block: Block = blocks[0]
        while True:
            gas -= block.gas
            if gas < 0:
                raise OutOfGas
            following = block.end
            for ins in block.instrs:
                op = ins.op
                where = sem.where_of(cf, ins.offset)
                if op is Op.CONST:
                    stack.append(program.module.consts[ins.arg])
                elif op is Op.SMALL:
                    stack.append(ins.arg)
                elif op is Op.POP:
                    stack.pop()
                elif op is Op.DUP:
                    stack.append(stack[-1])
                elif op is Op.SWAP:
                    stack[-1], stack[-2] = stack[-2], stack[-1]
                elif op is Op.OVER:
                    stack.append(stack[-2])
                elif op is Op.TRUE or op is Op.FALSE:
                    stack.append(op is Op.TRUE)
                elif op is Op.LOAD:
                    stack.append(locs[ins.arg])
                elif op is Op.STORE:
                    locs[ins.arg] = stack.pop()
                elif op in BINARY:
                    b = stack.pop()
                    stack.append(BINARY[op](where, stack.pop(), b))
                elif op in UNARY:
                    stack.append(UNARY[op](where, stack.pop()))
                elif op in WITH_GAS:
                    n = OPS[op].pops
                    operands = stack[-n:]
                    del stack[-n:]
                    value, gas = WITH_GAS[op](gas, where, *operands)
                    stack.append(value)
                elif op is Op.JUMP:
                    following = ins.arg
                elif op is Op.JUMPF or op is Op.JUMPT:
                    if sem.check_bool(where, op, stack.pop()) is (op is Op.JUMPT):
                        following = ins.arg
                elif op is Op.CALL:
                    gas = _call_op(program, ins.arg, where, gas, depth, slots, host, stack)
                elif op is Op.RET:
                    value = stack.pop()
                    if f.returns is None:
                        raise BrokenInvariant(f"{where}: RET in a function that returns nothing")
                    if type(value) is not sem.PY_TYPES[f.returns]:
                        sem.bad_return(where, TYPE_NAMES[f.returns], value)
                    return value, gas
                elif op is Op.RETV:
                    return None, gas
                elif op is Op.REVERT:
                    sem.op_revert(where, stack.pop())
                elif op is Op.HOST:
                    gas = _host_op(ins.arg, where, gas, host, stack)
                elif op is not Op.NOP:
                    raise BrokenInvariant(f"{where}: no semantics for {op.name}")
            block = blocks[following]
    except Halt as exc:
        if exc.gas is None:
            exc.gas = gas
        raise


def _call_op(
    program: Program,
    index: int,
    where: str,
    gas: int,
    depth: int,
    slots: int,
    host: HostApi,
    stack: list[Any],
) -> int:
    callee = program.checked.functions[index]
    if depth >= MAX_CALL_DEPTH:
        sem.too_deep(where)
    if slots + callee.frame_slots > MAX_TOTAL_SLOTS:
        sem.too_many_slots(where)
    n = len(callee.function.params)
    args = stack[len(stack) - n :]
    del stack[len(stack) - n :]
    value, gas = _frame(program, callee, gas, depth + 1, slots + callee.frame_slots, host, args)
    if callee.function.returns is not None:
        stack.append(value)
    return gas


def _host_op(host_id: int, where: str, gas: int, host: HostApi, stack: list[Any]) -> int:
    info = HOSTS[host_id]
    operands = stack[len(stack) - info.pops :]
    del stack[len(stack) - info.pops :]
    value, gas = HOST_FUNCTIONS[host_id](host, gas, where, *operands)
    if info.pushes:
        stack.append(value)
    return gas


__all__ = [
    "CALL_GAS",
    "FAULT",
    "OK",
    "OUT_OF_GAS",
    "REVERT",
    "ExecResult",
    "Fault",
    "Program",
    "execute",
    "interpret",
    "load_program",
    "prepare",
]
