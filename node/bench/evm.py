"""py-evm on a counting loop: a reference figure (EVM instructions per second) for our own VM.

The loop is `i = 0; while i < n: i = i + 1`, hand-assembled with i kept on the stack and n as a
push immediate, run by py-evm's real interpreter (the Cancun computation's apply_computation on
an in-memory AtomicDB state). Only the interpreter run is timed, not building the state.

The instruction count follows from the loop's shape (LOOP_OPS per iteration, FINAL_CHECK_OPS
for the exit test, PROLOGUE_OPS + EPILOGUE_OPS around it) and is checked against py-evm's own
gas meter: gas used must equal the sum of the static costs of those instructions.

py-evm is an optional extra: `pip install 'gridchain[bench]'`.
"""

import argparse
import json
import sys
import time
from importlib import metadata
from typing import Any

from chain.errors import LocalFault

MAX_ITERATIONS = 2**256 - 1  # n must fit one PUSH32 immediate
GAS_LIMIT = 2**63 - 1  # far above what any run here uses; the loop must not run out of gas
DEFAULT_ITERATIONS = 200_000

STOP = 0x00
ADD = 0x01
LT = 0x10
ISZERO = 0x15
JUMP = 0x56
JUMPI = 0x57
JUMPDEST = 0x5B
PUSH1 = 0x60
DUP2 = 0x81

# Static gas costs (yellow paper tiers), the same in every fork from Frontier to Cancun.
GAS_VERYLOW = 3  # PUSHn, DUPn, LT, ISZERO, ADD
GAS_MID = 8  # JUMP
GAS_HIGH = 10  # JUMPI
GAS_JUMPDEST = 1
GAS_STOP = 0

# prologue: PUSH1 0
PROLOGUE_OPS = 1
PROLOGUE_GAS = GAS_VERYLOW
# loop test: JUMPDEST, PUSHk n, DUP2, LT, ISZERO, PUSH1 end, JUMPI
CHECK_OPS = 7
CHECK_GAS = GAS_JUMPDEST + 5 * GAS_VERYLOW + GAS_HIGH
# loop body: PUSH1 1, ADD, PUSH1 loop, JUMP
BODY_OPS = 4
BODY_GAS = 3 * GAS_VERYLOW + GAS_MID
LOOP_OPS = CHECK_OPS + BODY_OPS
LOOP_GAS = CHECK_GAS + BODY_GAS
# the final, failing test jumps out
FINAL_CHECK_OPS = CHECK_OPS
FINAL_CHECK_GAS = CHECK_GAS
# epilogue: JUMPDEST, STOP
EPILOGUE_OPS = 2
EPILOGUE_GAS = GAS_JUMPDEST + GAS_STOP

INSTALL_HINT = "pip install 'gridchain[bench]'"


class EvmBenchError(LocalFault):
    code = "evm_bench"


class PyEvmMissing(EvmBenchError):
    code = "py_evm_missing"


def expected_ops(iterations: int) -> int:
    """EVM instructions the loop executes for `iterations` (STOP included)."""
    return PROLOGUE_OPS + LOOP_OPS * iterations + FINAL_CHECK_OPS + EPILOGUE_OPS


def expected_gas(iterations: int) -> int:
    """Gas the loop must use: the static costs of exactly expected_ops instructions."""
    return PROLOGUE_GAS + LOOP_GAS * iterations + FINAL_CHECK_GAS + EPILOGUE_GAS


def _check_iterations(iterations: int) -> None:
    if not 0 <= iterations <= MAX_ITERATIONS:
        raise EvmBenchError(f"iterations must be in 0..2**256-1, got {iterations}")
    if expected_gas(iterations) > GAS_LIMIT:
        raise EvmBenchError(f"{iterations} iterations need more gas than the limit {GAS_LIMIT}")


def loop_bytecode(iterations: int) -> bytes:
    """EVM code of `i = 0; while i < n: i = i + 1` with i on the stack and n = iterations."""
    _check_iterations(iterations)
    width = max(1, (iterations.bit_length() + 7) // 8)
    loop = 2
    end = loop + 1 + (1 + width) + 3 + 2 + 1 + 2 + 1 + 2 + 1
    code = bytes(
        [
            PUSH1, 0x00,  # i = 0                                  [i]
            JUMPDEST,  # loop:                                     [i]
            PUSH1 + width - 1, *iterations.to_bytes(width, "big"),  # [i, n]
            DUP2,  # [i, n, i]
            LT,  # i < n                                           [i, i<n]
            ISZERO,  # [i, i>=n]
            PUSH1, end,
            JUMPI,  # leave when i >= n                            [i]
            PUSH1, 0x01,
            ADD,  # i = i + 1                                      [i+1]
            PUSH1, loop,
            JUMP,
            JUMPDEST,  # end:                                      [n]
            STOP,
        ]
    )  # fmt: skip
    return code


def _py_evm_version() -> str:
    try:
        return metadata.version("py-evm")
    except metadata.PackageNotFoundError as exc:
        raise PyEvmMissing(f"py-evm is not installed: {INSTALL_HINT}") from exc


def run_evm_loop(iterations: int) -> dict[str, Any]:
    """Run the counting loop through py-evm once; gas used must match the counted instructions."""
    code = loop_bytecode(iterations)
    try:
        from eth.constants import BLANK_ROOT_HASH
        from eth.db.atomic import AtomicDB
        from eth.vm.execution_context import ExecutionContext
        from eth.vm.forks.cancun.computation import CancunComputation
        from eth.vm.forks.cancun.state import CancunState
        from eth.vm.message import Message
        from eth.vm.transaction_context import BaseTransactionContext
        from eth_typing import Address, BlockNumber, Hash32
    except ImportError as exc:
        raise PyEvmMissing(f"py-evm is not installed: {INSTALL_HINT}") from exc
    version = _py_evm_version()

    zero = Address(b"\x00" * 20)
    context = ExecutionContext(
        coinbase=zero,
        timestamp=0,
        block_number=BlockNumber(0),
        difficulty=0,
        mix_hash=Hash32(b"\x00" * 32),
        gas_limit=GAS_LIMIT,
        prev_hashes=(),
        chain_id=1,
        base_fee_per_gas=0,
        excess_blob_gas=0,
    )
    state = CancunState(AtomicDB(), context, BLANK_ROOT_HASH)
    sender = Address(b"\x02" * 20)
    message = Message(
        gas=GAS_LIMIT,
        to=Address(b"\x01" * 20),
        sender=sender,
        value=0,
        data=b"",
        code=code,
    )
    transaction = BaseTransactionContext(gas_price=0, origin=sender)

    started = time.perf_counter()
    computation = CancunComputation.apply_computation(state, message, transaction)
    seconds = time.perf_counter() - started

    if not computation.is_success:
        raise EvmBenchError(f"py-evm failed the loop: {computation.error!r}")
    gas_used = computation.get_gas_used()
    if gas_used != expected_gas(iterations):
        raise EvmBenchError(
            f"gas used {gas_used} != expected {expected_gas(iterations)}: "
            "the instruction count does not match what py-evm executed"
        )
    ops = expected_ops(iterations)
    return {
        "iterations": iterations,
        "ops": ops,
        "seconds": seconds,
        "ops_per_s": ops / max(seconds, 1e-9),
        "gas_used": gas_used,
        "py_evm_version": version,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m node.bench.evm",
        description=(
            "Time py-evm's interpreter on the counting loop `i = 0; while i < n: i = i + 1` "
            f"(EVM instructions per second). Needs py-evm: {INSTALL_HINT}"
        ),
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=DEFAULT_ITERATIONS,
        help=f"loop iterations n (default {DEFAULT_ITERATIONS}; {LOOP_OPS} instructions each)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = parser.parse_args(argv)
    try:
        result = run_evm_loop(args.iterations)
    except EvmBenchError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(
            f"py-evm {result['py_evm_version']}: {result['iterations']} iterations, "
            f"{result['ops']} instructions, {result['gas_used']} gas, "
            f"{result['seconds']:.3f} s, {result['ops_per_s']:,.0f} instructions/s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
