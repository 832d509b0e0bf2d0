"""`gridchain bench vm`: the VM beside py-evm on one counting loop, and what one multisig
approval costs (gas, and time through the chain's state transition).

The approval is measured the way a block applies it: process_transaction with the VM runtime
over an in-memory copy of a genesis state holding the standard contracts, so the time includes
the transaction checks, the contract's ed25519 check, storage reads and writes and the events.
"""

import statistics
import time
from collections.abc import Callable
from typing import Any

from chain.address import key_address
from chain.blockchain import env_for
from chain.blocks.header import Header
from chain.genesis_state import GenesisContract, GenesisState, genesis_header, genesis_writes
from chain.hashing import ZERO_HASH, hash32
from chain.keys import KeyPair, keypair_from_seed
from chain.ledger.execution import process_transaction
from chain.ledger.policy import Signer, make_policy
from chain.ledger.transactions import Call, TxBody, sign_tx
from chain.params import ChainParams
from chain.staking.validators import make_validator_set, validator_with_key
from chain.state import Overlay
from contracts_std.requirement import (
    RequiredSigner,
    encode_requirement,
    make_requirement,
    signing_hash,
    workload_address,
)
from contracts_std.spec import load_spec, spec_bytes
from contracts_std.standard import standard_contracts
from vm import bench as vm_bench
from vm.runtime import VmRuntime

CHAIN = "bench-vm"
GAS = 2_000_000


class _Records:
    def __init__(self, records: dict[bytes, bytes | None]) -> None:
        self.records = records

    def get_state(self, key: bytes) -> bytes | None:
        return self.records.get(key)


def _key(name: str) -> KeyPair:
    return keypair_from_seed(hash32(b"bench-vm/" + name.encode()))


def approval_cost(workloads: int, say: Callable[[str], None]) -> dict[str, Any]:
    """Submit `workloads` 2-of-3 specs, then time one approval of each (the first signature:
    every check runs, and the requirement is not yet met)."""
    signers = [_key(n) for n in ("a", "b", "c")]
    validator = _key("validator")
    gen = GenesisState(
        CHAIN,
        0,
        tuple((key_address(k.public_key), 10**15) for k in signers),
        make_validator_set([validator_with_key(validator, 1, "v")]),
        make_policy([Signer(validator.public_key, 1)], 1),
        ChainParams(),
        tuple(GenesisContract(name, code) for name, code in standard_contracts()),
    )
    state = Overlay(_Records(dict(genesis_writes(gen))))
    header: Header = genesis_header(gen, ZERO_HASH)
    env = env_for(header, state)
    runtime = VmRuntime()
    contract = workload_address()
    req = encode_requirement(make_requirement([RequiredSigner(k.public_key) for k in signers], 2))
    workload = {"type": "container", "name": "web", "image": "host", "cpu": 1, "memory_mb": 256}
    spec = spec_bytes(load_spec({"name": "bench", "workloads": [workload], "budget": 1000}))
    nonces = {k.public_key: 0 for k in signers}

    def call(k: KeyPair, function: str, *args: Any) -> Any:
        fee = gen.params.min_fee + GAS * gen.params.gas_price
        body = TxBody(
            CHAIN, key_address(k.public_key), nonces[k.public_key], fee,
            Call(contract, function, args, 0, GAS),
        )  # fmt: skip
        nonces[k.public_key] += 1
        return sign_tx(body, [k])

    a = signers[0]
    for i in range(workloads):
        receipt = process_transaction(env, state, call(a, "submit", spec, req, 10**9), i, runtime)
        assert receipt.status == "ok", receipt.message
    say(f"  {workloads} workloads submitted; approving each once...")
    txs = [
        call(a, "approve", wid, a.public_key, a.sign(signing_hash(contract, wid, 1, spec, req)))
        for wid in range(1, workloads + 1)
    ]
    times, gas = [], set()
    for i, tx in enumerate(txs):
        start = time.perf_counter()
        receipt = process_transaction(env, state, tx, i, runtime)
        times.append(time.perf_counter() - start)
        assert receipt.status == "ok" and receipt.return_value == "pending", receipt.message
        gas.add(receipt.gas_used)
    return {
        "approvals": workloads,
        "gas_per_approval": sorted(gas),
        "median_us": round(statistics.median(times) * 1e6, 1),
        "p90_us": round(statistics.quantiles(times, n=10)[-1] * 1e6, 1),
        "approvals_per_s": int(1 / statistics.median(times)),
    }


def bench_vm(
    iterations: int, approvals: int, evm_iterations: int, say: Callable[[str], None]
) -> dict[str, Any]:
    say(f"VM: counting loop of {iterations} iterations (best of 3)...")
    ours = vm_bench.run(iterations, 3, reference=False)
    result: dict[str, Any] = {"vm": ours, "evm": None, "ratio": None}
    if evm_iterations:
        from node.bench.evm import PyEvmMissing, run_evm_loop

        say(f"py-evm: the same loop, {evm_iterations} iterations (median of 3)...")
        try:
            runs = [run_evm_loop(evm_iterations) for _ in range(3)]
        except PyEvmMissing as exc:
            say(f"  skipped: {exc.message}")
        else:
            evm = sorted(runs, key=lambda r: r["ops_per_s"])[1]
            result["evm"] = evm
            result["ratio"] = round(ours["ops_per_second"] / evm["ops_per_s"], 1)
    say("multisig approval cost...")
    result["approval"] = approval_cost(approvals, say)
    return result
