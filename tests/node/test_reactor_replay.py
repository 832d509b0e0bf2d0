"""Crash recovery of consensus: the reactor replays its WAL and resumes where it was.

A real reactor over a real LevelDB store, a real signer state file and a real WAL file, one of
four validators, with no peers: the WAL is written as a crashed run would have left it (peers'
signed votes, our own fsynced vote, a torn tail), and a fresh reactor must come back in the same
round, with our vote reused rather than signed again, and refuse to sign against it.
"""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from chain.blocks.commit import VoteType
from chain.blocks.votes import NIL, sign_vote, vote_to_value
from chain.encoding import encode
from chain.keys import KeyPair
from chain.store import ChainStore
from consensus.double_sign import DoubleSignRefused
from consensus.tendermint import Step, Vote
from genesis.schema import genesis_document, parse_genesis, validator_document
from node.config import NodeConfig
from node.consensus.privval import PrivValidator
from node.consensus.reactor import Reactor
from node.consensus.wal import WriteAheadLog
from node.p2p.messages import VoteMsg, encode_message
from node.service import NodeService
from tests.kit.support import dev_key

CHAIN = "gridchain-replay"
KEYS = [dev_key(f"replay-validator-{i}") for i in range(4)]


def make_node(tmp_path: Path, key: KeyPair, bls_of_first: KeyPair | None = None) -> NodeService:
    """One of the four validators' nodes; `bls_of_first` registers another key's BLS key (with
    its valid proof) for the first validator, as a swapped key file would leave it."""
    validators = [validator_document(k, 10, f"v{i}") for i, k in enumerate(KEYS)]
    if bls_of_first is not None:
        other = validator_document(bls_of_first, 10, "other")
        validators[0] |= {"bls_key": other["bls_key"], "bls_pop": other["bls_pop"]}
    doc = genesis_document(
        CHAIN,
        datetime(2026, 1, 1, tzinfo=UTC),
        validators,
        {"signers": [{"public_key": KEYS[0].public_key.hex(), "weight": 1}], "threshold": 1},
    )
    store = ChainStore(str(tmp_path / "chain.db"))
    return NodeService(store, parse_genesis(doc), key, NodeConfig(verify_workers=0))


def vote_record(key: KeyPair, vote_type: VoteType, round_: int) -> bytes:
    vote = sign_vote(key, CHAIN, vote_type, 1, round_, NIL)
    return encode(["vote", vote_to_value(vote)])


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "signer_state.json", tmp_path / "consensus.wal"


async def test_restart_resumes_in_the_round_of_the_wal(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    signer_file, wal_file = files
    me = KEYS[0]
    # What a crashed run left: two peers (more than 1/3) moved to round 2 and prevoted nil; our
    # propose timeout fired there and we prevoted nil (the signer recorded it, the WAL holds
    # it), then a torn write.
    own = PrivValidator(me, signer_file).sign_vote(CHAIN, VoteType.PREVOTE, 1, 2, NIL)
    wal = WriteAheadLog(wal_file)
    wal.open()
    wal.append(vote_record(KEYS[1], VoteType.PREVOTE, 2))
    wal.append(vote_record(KEYS[2], VoteType.PREVOTE, 2))
    wal.append(encode(["timeout", int(Step.PROPOSE), 1, 2]))
    wal.append(encode(["vote", vote_to_value(own)]), sync=True)
    wal.close()
    with open(wal_file, "ab") as f:
        f.write(b"\x00\x00\x12\x34\x00\x00\x01\x00torn")

    node = make_node(tmp_path, me)
    reactor = Reactor(node, PrivValidator(me, signer_file), WriteAheadLog(wal_file))
    await reactor.start()
    try:
        status = reactor.status()
        assert status["height"] == 1 and status["round"] == 2
        # Three nil prevotes of four (ours among them) are a quorum: it goes on to precommit nil,
        # a new signature at a higher step, while our prevote is resent as it was.
        assert status["step"] == "precommit"
        assert encode_message(VoteMsg(own)) in reactor._hs.own
        last = reactor.privval.last_signed
        assert last is not None and (last.height, last.round, last.step) == (1, 2, 3)
        with pytest.raises(DoubleSignRefused):  # a conflicting prevote is still refused
            reactor.privval.sign_vote(CHAIN, VoteType.PREVOTE, 1, 2, b"\x01" * 32)
    finally:
        await reactor.stop()
        node.close()
    assert wal_file.stat().st_size > 0
    assert b"torn" not in wal_file.read_bytes()


async def test_records_of_committed_heights_are_ignored(
    tmp_path: Path, files: tuple[Path, Path]
) -> None:
    signer_file, wal_file = files
    wal = WriteAheadLog(wal_file)
    wal.open()
    stale = sign_vote(KEYS[1], CHAIN, VoteType.PREVOTE, 7, 5, NIL)  # not our next height
    wal.append(encode(["vote", vote_to_value(stale)]), sync=True)
    wal.close()
    node = make_node(tmp_path, KEYS[0])
    reactor = Reactor(node, PrivValidator(KEYS[0], signer_file), WriteAheadLog(wal_file))
    await reactor.start()
    try:
        assert reactor.status()["round"] == 0
        assert not reactor._hs.votes
    finally:
        await reactor.stop()
        node.close()


@pytest.mark.parametrize("swapped", [False, True], ids=["own-key", "swapped-bls-key"])
async def test_a_validator_whose_bls_key_is_not_the_chains_does_not_vote(
    tmp_path: Path, files: tuple[Path, Path], swapped: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """Its precommits could never enter a certificate: it says why once, and signs nothing."""
    signer_file, wal_file = files
    node = make_node(tmp_path, KEYS[0], dev_key("someone-else") if swapped else None)
    reactor = Reactor(node, PrivValidator(KEYS[0], signer_file), WriteAheadLog(wal_file))
    await reactor.start()
    try:
        hs = reactor._hs
        for kind in (VoteType.PREVOTE, VoteType.PRECOMMIT):  # what the machine asks, in turn
            await reactor.own.vote(hs, Vote(kind, hs.height, 0, None, KEYS[0].public_key))
        mine = [v for vs in hs.votes.values() for v in vs if v.validator == KEYS[0].public_key]
        if swapped:
            assert mine == [] and reactor.privval.last_signed is None
            assert caplog.text.count("the chain holds BLS key") == 1
        else:
            assert [v.vote_type for v in mine] == [VoteType.PREVOTE, VoteType.PRECOMMIT]
            assert "the chain holds BLS key" not in caplog.text
    finally:
        await reactor.stop()
        node.close()
