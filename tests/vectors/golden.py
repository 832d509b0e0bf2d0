"""Golden vectors: the bytes and hashes the chain's encodings and rules produce today.

Any refactoring must leave every one of them byte-identical
(tests/vectors/test_golden_vectors.py); a change that alters one changes the protocol and must say
so. Regenerate deliberately with `python -m tests.vectors.golden --write` and explain why in the
commit.

Everything here is deterministic: keys from fixed seeds, fixed times, ed25519 signatures (which
are deterministic), and a fixed sequence of blocks on a fresh LevelDB.
"""

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from chain.address import key_address, multisig_address
from chain.blocks.block import encode_block
from chain.blocks.commit import VoteType, encode_commit, vote_sign_bytes
from chain.blocks.evidence import encode_evidence, make_evidence
from chain.blocks.votes import proposal_sign_bytes, sign_vote
from chain.deployment.txs import ReplicaBill, ReplicaReport
from chain.farming.rules import node_consent_message
from chain.farming.txs import (
    Capabilities,
    ComputeCommit,
    ComputeReveal,
    FarmCreate,
    FarmRemove,
    FarmUpdate,
    Heartbeat,
    Location,
    NodeRegister,
    NodeRemove,
    NodeUpdate,
    Opening,
    Resources,
    SpaceProof,
    StorageProofs,
)
from chain.genesis_state import genesis_hash
from chain.governance.txs import (
    GovApprove,
    GovPropose,
    ParamsChange,
    RewardsChange,
    TextProposal,
    UpgradePlan,
    ValidatorsChange,
)
from chain.hashing import hash32
from chain.ledger.policy import Signer, make_policy
from chain.ledger.transactions import (
    Call,
    CreateMultisig,
    Deploy,
    Payload,
    Transfer,
    TxBody,
    Unjail,
    UpdateMultisig,
    sign_tx,
)
from chain.staking.txs import ValidatorAdd, ValidatorRemove, ValidatorSetStake
from chain.staking.validators import bls_registration
from contracts_std.requirement import (
    RequiredSigner,
    encode_requirement,
    make_requirement,
    signing_hash,
    workload_address,
)
from contracts_std.spec import load_spec, spec_bytes
from genesis.schema import genesis_document, parse_genesis, validator_document
from tests.kit.chainkit import CHAIN, USERS, VALIDATOR, ContractChain, make_genesis
from tests.kit.farmkit import FARMING, Farmer, farming_genesis, register, run_until

FILE = Path(__file__).with_name("golden.json")
ALICE, BOB, CAROL, NODE = USERS["alice"], USERS["bob"], USERS["carol"], USERS["node"]
H = hash32(b"golden")
RESOURCES = Resources(cores=4, memory_mb=8192, ssd_gb=100, hdd_gb=2000)
LOCATION = Location("BE", "Ghent", 51_054_342, 3_717_424)
CAPABILITIES = Capabilities(container=True, vm=False, gateway="gw.example.org")
SPEC = spec_bytes(
    load_spec(
        {
            "name": "web",
            "workloads": [
                {"type": "container", "name": "web", "image": "host", "cpu": 1, "memory_mb": 64}
            ],
            "placement": {
                "countries": ["BE"],
                "near": {"latitude": 51_000_000, "longitude": 3_700_000, "radius_km": 50},
            },
            "budget": 1000,
        }
    )
)


def payloads() -> dict[str, Payload]:
    """One payload of every transaction kind, with every field set."""
    policy = make_policy([Signer(ALICE.public_key, 2, True), Signer(BOB.public_key, 1)], 2)
    bob = key_address(BOB.public_key)
    return {
        "transfer": Transfer(bob, 12_345),
        "multisig_create": CreateMultisig(policy, 1_000),
        "multisig_update": UpdateMultisig(policy),
        "unjail": Unjail(VALIDATOR.public_key),
        "deploy": Deploy(b"\x00gcvm-bytes", 250_000),
        "call": Call(workload_address(), "submit", (7, True, b"\x01\x02", "text"), 5, 300_000),
        "farm_create": FarmCreate("farm one", bob, 50_000),
        "farm_update": FarmUpdate(1, "farm two", bob, 10),
        "farm_remove": FarmRemove(1),
        "node_register": NodeRegister(
            1,
            NODE.public_key,
            RESOURCES,
            LOCATION,
            NODE.sign(node_consent_message(CHAIN, 1, NODE.public_key)),
            CAPABILITIES,
        ),
        "node_update": NodeUpdate(1, RESOURCES, LOCATION, CAPABILITIES),
        "node_remove": NodeRemove(1),
        "heartbeat": Heartbeat(1, 9, H),
        "storage_proofs": StorageProofs(1, 2, (SpaceProof(H, 18, 3, b"\x07" * 144),)),
        "compute_commit": ComputeCommit(1, 2, 64, H),
        "compute_reveal": ComputeReveal(1, 2, (Opening(5, H, (H, hash32(H))),)),
        "replica_report": ReplicaReport(
            1, workload_address(), 3, 2, "web", 1, True, "running", "10.200.0.6"
        ),
        "replica_bill": ReplicaBill(1, workload_address(), 3, 2, "web", 1),
        "validator_add": ValidatorAdd(
            NODE.public_key,
            bls_registration(NODE).bls_key,
            bls_registration(NODE).proof,
            1_000,
            "newcomer",
        ),
        "validator_remove": ValidatorRemove(VALIDATOR.public_key),
        "validator_set_stake": ValidatorSetStake(VALIDATOR.public_key, 2_000),
        "gov_propose": GovPropose("min fee to 5", ParamsChange((("min_fee", 5),)), 100),
        "gov_propose_rewards": GovPropose("rates", RewardsChange(10**9, 10**6), 100),
        "gov_propose_validators": GovPropose(
            "restake", ValidatorsChange((ValidatorSetStake(VALIDATOR.public_key, 7),)), 100
        ),
        "gov_propose_upgrade": GovPropose(
            "release 0.2.0",
            UpgradePlan("v2", 1_000, "0.2.0", H, "https://example.org/gridchain-0.2.0.whl"),
            100,
        ),
        "gov_propose_text": GovPropose("statement", TextProposal("we meet on Mondays"), 100),
        "gov_approve": GovApprove(H),
    }


def transactions() -> dict[str, dict[str, str]]:
    out = {}
    alice = key_address(ALICE.public_key)
    for nonce, (kind, payload) in enumerate(payloads().items()):
        tx = sign_tx(TxBody(CHAIN, alice, nonce, 1_000 + nonce, payload), [ALICE])
        out[kind] = {"bytes": tx.encoded.hex(), "id": tx.id.hex()}
    multisig = multisig_address(alice, 0)
    both = sign_tx(TxBody(CHAIN, multisig, 3, 10, Transfer(alice, 1)), [ALICE, BOB])
    out["multisig_signed_transfer"] = {"bytes": both.encoded.hex(), "id": both.id.hex()}
    return out


def consensus_bytes() -> dict[str, str]:
    prevote = sign_vote(VALIDATOR, CHAIN, VoteType.PREVOTE, 5, 1, H)
    other = sign_vote(VALIDATOR, CHAIN, VoteType.PREVOTE, 5, 1, hash32(H))
    return {
        "prevote_sign_bytes": vote_sign_bytes(CHAIN, 5, 1, VoteType.PREVOTE, H).hex(),
        "precommit_sign_bytes": vote_sign_bytes(CHAIN, 5, 0, VoteType.PRECOMMIT, H).hex(),
        "nil_prevote_sign_bytes": vote_sign_bytes(CHAIN, 5, 2, VoteType.PREVOTE, b"").hex(),
        "proposal_sign_bytes": proposal_sign_bytes(CHAIN, 5, 1, -1, H).hex(),
        "proposal_sign_bytes_valid_round": proposal_sign_bytes(CHAIN, 5, 3, 1, H).hex(),
        "prevote_signature": prevote.signature.hex(),
        "evidence": encode_evidence(make_evidence(prevote, other)).hex(),
    }


def genesis_hashes() -> dict[str, str]:
    from datetime import UTC, datetime

    document = genesis_document(
        "gridchain-golden",
        datetime(2026, 1, 1, tzinfo=UTC),
        [validator_document(VALIDATOR, 100, "v0")],
        {"signers": [{"public_key": ALICE.public_key.hex(), "weight": 1}], "threshold": 1},
        [{"address": str(key_address(ALICE.public_key)), "amount": 10**12}],
        {"block_interval_ms": 100},
    )
    return {
        "contracts_genesis": genesis_hash(make_genesis()).hex(),
        "document_genesis": genesis_hash(parse_genesis(document)).hex(),
    }


def chain_run(directory: Path) -> dict[str, Any]:
    """A fixed sequence of blocks: transfers, a multisig account, an authorized workload, and a
    farm whose node sends heartbeats and compute work past an epoch's payout."""
    chain = ContractChain(directory / "chain", farming_genesis())
    try:
        alice = key_address(ALICE.public_key)
        chain.produce(
            [
                chain.tx(ALICE, Transfer(key_address(BOB.public_key), 1_000)),
                chain.tx(BOB, Transfer(alice, 7)),
            ]
        )
        policy = make_policy([Signer(ALICE.public_key, 1), Signer(CAROL.public_key, 1)], 2)
        chain.produce([chain.tx(ALICE, CreateMultisig(policy, 5_000))])
        workload = workload_address()
        req = encode_requirement(
            make_requirement([RequiredSigner(k.public_key) for k in (ALICE, BOB, CAROL)], 2)
        )
        wid = chain.ok(ALICE, workload, "submit", SPEC, req, 1000)
        for signer in (ALICE, BOB):
            signature = signer.sign(signing_hash(workload, wid, 1, SPEC, req))
            chain.ok(signer, workload, "approve", wid, signer.public_key, signature)
        farmer = Farmer(CAROL, NODE, [])
        register(chain, farmer)
        run_until(chain, [farmer], 2 * FARMING["epoch_blocks"] + 2)
        blocks = []
        for result in chain.results:
            header = result.block.header
            commit = chain.store.commit_at(header.height)
            assert commit is not None
            blocks.append(
                {
                    "height": header.height,
                    "hash": header.hash.hex(),
                    "block_bytes_hash": hash32(encode_block(result.block)).hex(),
                    "commit": encode_commit(commit).hex(),
                    "state_root": header.state_root.hex(),
                    "audit_size": header.audit_size,
                    "audit_root": header.audit_root.hex(),
                    "txs": len(result.block.txs),
                    "reward_lines": len(result.block.rewards),
                }
            )
        return {"blocks": blocks}
    finally:
        chain.close()


def compute() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as scratch:
        run = chain_run(Path(scratch))
    return {
        "transactions": transactions(),
        "consensus": consensus_bytes(),
        "genesis": genesis_hashes(),
        "chain": run,
    }


def main(argv: list[str]) -> int:
    vectors = compute()
    if argv[1:] == ["--write"]:
        FILE.write_text(json.dumps(vectors, indent=1, sort_keys=True) + "\n")
        print(f"wrote {FILE}")
        return 0
    print(json.dumps(vectors, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
