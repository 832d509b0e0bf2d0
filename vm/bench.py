"""Benchmark of the VM: metered instructions per second on a counting loop.

    python -m vm.bench [--iterations N] [--repeat R] [--interpreter] [--json]

The loop is `i = 0; while i < n: i = i + 1; return i` compiled by hand (n is a constant):
8 instructions per iteration. Ops are instructions executed, counted from the program's shape
(8 * n + 7; the gas used, 8 * n + 18, is checked); gas/s is gas used per second. The best of R runs
is reported. Wall-clock time is measured here only, never inside the VM.
"""

import argparse
import json
import platform
import sys
import time

from vm.asm import function
from vm.host import MemoryHost
from vm.isa import Module, ValueType
from vm.machine import OK, Program, execute, interpret, prepare

COUNT_LOOP = """
        JUMP cond
    body:
        LOAD 0
        SMALL 1
        ADD
        STORE 0
    cond:
        LOAD 0
        CONST 0
        LT
        JUMPT body
        LOAD 0
        RET
"""


def counting_program(n: int) -> Program:
    return prepare(Module((n,), (function("count", COUNT_LOOP, returns=ValueType.INT),)))


def ops_executed(n: int) -> int:
    """The JUMP, n + 1 tests and n bodies of 4 instructions each, then LOAD and RET."""
    return 1 + 4 * (n + 1) + 4 * n + 2


def gas_used(n: int) -> int:
    """CALL_GAS, the JUMP's block, n bodies and n + 1 tests, the return block."""
    return 10 + 1 + 4 * n + 4 * (n + 1) + 3


def run(n: int, repeat: int, reference: bool) -> dict[str, object]:
    program = counting_program(n)
    engine = interpret if reference else execute
    best = None
    for _ in range(repeat):
        start = time.perf_counter()
        result = engine(program, "count", (), 10**12, MemoryHost())
        elapsed = time.perf_counter() - start
        if result.status != OK or result.value != n or result.gas_used != gas_used(n):
            raise SystemExit(f"unexpected result {result}")
        best = elapsed if best is None else min(best, elapsed)
    assert best is not None
    ops = ops_executed(n)
    return {
        "engine": "interpreter" if reference else "translated",
        "iterations": n,
        "ops": ops,
        "gas": gas_used(n),
        "seconds": round(best, 4),
        "ops_per_second": int(ops / best),
        "gas_per_second": int(gas_used(n) / best),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vm.bench", description="Metered VM ops/s on a counting loop."
    )
    parser.add_argument("--iterations", type=int, default=2_000_000, help="loop iterations")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    parser.add_argument("--interpreter", action="store_true", help="the reference interpreter")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    report = run(args.iterations, args.repeat, args.interpreter)
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"{report['engine']}: {report['ops']:,} ops in {report['seconds']} s: "
            f"{report['ops_per_second']:,} ops/s, {report['gas_per_second']:,} gas/s "
            f"(Python {report['python']}, {report['machine']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
