"""node/bench/evm.py: py-evm runs the hand-assembled counting loop with exactly the counted ops.

The op count is checked independently of gas: every opcode py-evm dispatches is counted by
wrapping its opcode table. No timing is asserted.
"""

import json
import sys
from collections import Counter
from typing import Any

import pytest

from node.bench import evm as bench_evm
from node.bench.evm import (
    EvmBenchError,
    PyEvmMissing,
    expected_gas,
    expected_ops,
    loop_bytecode,
    run_evm_loop,
)

CancunComputation = pytest.importorskip("eth.vm.forks.cancun.computation").CancunComputation


def _count_dispatched(monkeypatch: pytest.MonkeyPatch) -> Counter[int]:
    counts: Counter[int] = Counter()

    def counting(opcode: int, fn: Any) -> Any:
        def counted(computation: Any) -> Any:
            counts[opcode] += 1
            return fn(computation=computation)

        return counted

    table = {op: counting(op, fn) for op, fn in CancunComputation.opcodes.items()}
    monkeypatch.setattr(CancunComputation, "opcodes", table)
    return counts


@pytest.mark.parametrize("n", [0, 1, 100, 300])
def test_the_loop_executes_exactly_the_counted_ops_and_gas(
    monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    counts = _count_dispatched(monkeypatch)
    result = run_evm_loop(n)

    assert result["iterations"] == n
    assert result["ops"] == 11 * n + 10 == expected_ops(n)
    assert result["gas_used"] == 43 * n + 30 == expected_gas(n)
    assert sum(counts.values()) == result["ops"]
    limit_push = 0x60 + max(1, (n.bit_length() + 7) // 8) - 1  # PUSH1 for n <= 255, else PUSH2
    by_op = {
        bench_evm.JUMPDEST: n + 2,
        bench_evm.DUP2: n + 1,
        bench_evm.LT: n + 1,
        bench_evm.ISZERO: n + 1,
        bench_evm.JUMPI: n + 1,
        bench_evm.ADD: n,
        bench_evm.JUMP: n,
        bench_evm.STOP: 1,
    }
    pushes = Counter({bench_evm.PUSH1: 3 * n + 2}) + Counter({limit_push: n + 1})
    # Counter addition drops the zero counts of opcodes a 0-iteration loop never reaches
    assert counts == Counter(by_op) + pushes
    assert result["py_evm_version"]
    assert result["seconds"] > 0 and result["ops_per_s"] > 0


def test_the_loop_code_is_the_hand_assembled_program() -> None:
    program = "6000 5b 6064 81 10 15 6011 57 6001 01 6002 56 5b 00"
    assert loop_bytecode(100) == bytes.fromhex(program)
    # a wider limit moves the exit target but not the loop head
    program = "6000 5b 6103e8 81 10 15 6012 57 6001 01 6002 56 5b 00"
    assert loop_bytecode(1000) == bytes.fromhex(program)


def test_out_of_range_iterations_are_refused() -> None:
    with pytest.raises(EvmBenchError, match="iterations"):
        run_evm_loop(-1)
    with pytest.raises(EvmBenchError, match="gas"):
        loop_bytecode(2**62)


def test_a_missing_py_evm_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "eth.vm.forks.cancun.state", None)
    with pytest.raises(PyEvmMissing, match=r"pip install 'gridchain\[bench\]'"):
        run_evm_loop(1)


def test_command_line_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_evm.main(["--iterations", "50", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["ops"], result["gas_used"]) == (560, 2180)
