"""The seed corpus: one real input (or a few) of each target, made from a real chain.

`python -m tests.fuzz.seeds` writes tests/fuzz/corpus/TARGET/seed-*; the fuzzers grow the
corpus from there (`make fuzz` keeps what they find in the repository).
"""

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from chain.address import key_address
from chain.blocks.block import encode_block
from chain.blocks.commit import VoteType, encode_commit
from chain.blocks.evidence import encode_evidence, make_evidence
from chain.blocks.votes import encode_vote, sign_vote
from chain.encoding import encode
from chain.light.blocks import encode_light_block, light_block_at
from chain.snapshot.chunks import chunk_subtree, cut_into_chunks, encode_chunk
from chain.snapshot.manifest import Manifest, encode_headers, encode_manifest
from chain.staking.validators import encode_validator_set
from chain.state import Overlay
from contracts_std.spec import load_spec_file, spec_bytes
from genesis.schema import genesis_document, validator_document
from node.consensus.wal import frame
from node.keystore import Keystore
from node.p2p.link import PROTOCOL_VERSION, TOKEN_SIZE, answer_hello, client_hello
from node.p2p.messages import Blocks, GetBlocks, Status, Txs, VoteMsg, encode_message
from tests.fuzz.targets import CLIENT_EPHEMERAL, NETWORK, SERVER_KEY
from tests.kit.chainkit import USERS, VALIDATOR, ContractChain, make_genesis
from tests.kit.support import transfer
from tests.vectors.golden import compute

ROOT = Path(__file__).resolve().parent
CORPUS = ROOT / "corpus"
REPO = ROOT.parent.parent


def seeds() -> dict[str, list[bytes]]:
    golden = compute()
    txs = [bytes.fromhex(v["bytes"]) for v in golden["transactions"].values()]
    with tempfile.TemporaryDirectory() as scratch:
        chain = ContractChain(Path(scratch) / "chain", make_genesis())
        try:
            alice, bob = USERS["alice"], USERS["bob"]
            to = key_address(bob.public_key)
            sent = transfer(alice, to, 5, 0, chain_id=chain.genesis.chain_id)
            chain.produce([sent])
            chain.produce()
            blocks = [r.block for r in chain.results]
            commits = [chain.store.commit_at(b.height) for b in blocks]
            light = [light_block_at(chain.store, h) for h in (0, 1, 2)]
            vset = Overlay(chain.store).validator_set()
            records = list(chain.store.state_items())
            head = blocks[-1].header
            parts = list(cut_into_chunks(records, 1))
            snapshot = Manifest(
                head.height,
                head.state_root,
                1,
                tuple(chunk_subtree(i, 1, c) for i, c in enumerate(parts)),
            )
        finally:
            chain.close()
    one = sign_vote(VALIDATOR, "c", VoteType.PREVOTE, 3, 0, bytes(32))
    two = sign_vote(VALIDATOR, "c", VoteType.PREVOTE, 3, 0, b"\x01" * 32)
    with tempfile.TemporaryDirectory() as keys:
        Keystore(Path(keys)).new("seed", "passphrase")
        key_file = (Path(keys) / "seed.json").read_bytes()
    spec_document = load_spec_file(REPO / "docs" / "examples" / "workload-spec.json")
    return {
        "tx": txs,
        "block": [encode_block(b) for b in blocks],
        "commit": [encode_commit(c) for c in commits if c is not None],
        "vote": [encode_vote(one)],
        "evidence": [encode_evidence(make_evidence(one, two))],
        "light_block": [encode_light_block(b) for b in light if b is not None],
        "validator_set": [encode_validator_set(vset)],
        "manifest": [encode_manifest(snapshot)],
        "chunk": [encode_chunk(c[:3]) for c in parts],
        "headers": [encode_headers([b.header for b in blocks])],
        "peer_message": [
            encode_message(Status(4, 1, 2)),
            encode_message(Txs(tuple(txs[:2]))),
            encode_message(VoteMsg(one)),
            encode_message(GetBlocks(1, 10)),
            encode_message(Blocks(((encode_block(blocks[0]), encode_commit(commits[0])),)))
            if commits[0] is not None
            else encode_message(GetBlocks(0, 1)),
        ],
        "hello": [client_hello(NETWORK)[0]],
        "handshake_answer": [handshake_answer_seed()],
        "wal": [frame(b"record one") + frame(b"two") + b"\x00torn"],
        "spec": [spec_bytes(spec_document)],
        "spec_file": [json.dumps(spec_document).encode()],
        "genesis": [json.dumps(genesis_seed()).encode()],
        "keystore": [key_file],
    }


def handshake_answer_seed() -> bytes:
    """A server's answer to the fuzz target's fixed dialer."""
    ours = bytes(CLIENT_EPHEMERAL.public_key)
    hello = encode({"version": PROTOCOL_VERSION, "network": NETWORK, "ephemeral": ours})
    return answer_hello(hello, SERVER_KEY, NETWORK, b"t" * TOKEN_SIZE)[0]


def genesis_seed() -> dict[str, object]:
    council = {"signers": [{"public_key": VALIDATOR.public_key.hex(), "weight": 1}], "threshold": 1}
    return genesis_document(
        "fuzz-chain",
        datetime(2026, 1, 1, tzinfo=UTC),
        [validator_document(VALIDATOR, 100, "v0")],
        council,
        [{"address": str(key_address(USERS["alice"].public_key)), "amount": 1000}],
        {"min_fee": 2},
        contracts=[],
        software_version="1.0.0",
    )


def write(corpus: Path = CORPUS) -> None:
    for target, inputs in seeds().items():
        folder = corpus / target
        folder.mkdir(parents=True, exist_ok=True)
        for i, data in enumerate(inputs):
            (folder / f"seed-{i}").write_bytes(data)


if __name__ == "__main__":
    write()
