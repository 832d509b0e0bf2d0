"""The council changes the validator set (chain/staking/council.py): decided in block h, applied
when h+1 begins, signing from h+2; real LevelDB stores, real certificates of the set that voted
on each block."""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from chain import bls
from chain.address import key_address
from chain.blocks.commit import VoteType, check_commit, commit_signers
from chain.blocks.evidence import make_evidence
from chain.blocks.votes import sign_vote
from chain.encoding import decode, encode
from chain.errors import (
    EncodingError,
    InvalidBlsKey,
    NotOwner,
    PolicyNotSatisfied,
    Tombstoned,
)
from chain.genesis_state import COUNCIL_ADDRESS
from chain.hashing import hash32
from chain.ledger.transactions import (
    TxBody,
    decode_tx,
    sign_tx,
    signed_tx_to_value,
    tx_to_json,
)
from chain.staking.council import (
    pending_changes,
)
from chain.staking.txs import ValidatorAdd, ValidatorChange, ValidatorRemove, ValidatorSetStake
from chain.staking.validators import (
    bls_registration,
    validator_set_hash,
)
from chain.state import jailed_validators, signing_info
from tests.kit.councilkit import (
    CHAIN,
    COUNCIL_1,
    COUNCIL_2,
    NEWCOMERS,
    STAKE,
    A,
    B,
    C,
    CouncilChain,
    D,
    add,
    make_genesis,
)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[CouncilChain]:
    c = CouncilChain(tmp_path / "chain", make_genesis())
    yield c
    c.store.close()


# Timing


def test_a_validator_added_at_h_is_in_the_next_set_of_h_plus_1_and_signs_h_plus_2(
    chain: CouncilChain, tmp_path: Path
) -> None:
    newcomer = NEWCOMERS[0]
    chain.decide(add(newcomer))
    h = chain.head.height
    decided = chain.head
    assert [p.change for p in pending_changes(chain.store)] == [add(newcomer)]
    assert newcomer.public_key not in chain.power()  # not yet: the set voting on h+1 is as it was
    assert decided.next_validators_hash == decided.validators_hash

    applied = chain.produce().block.header  # h+1
    assert pending_changes(chain.store) == ()
    assert chain.power()[newcomer.public_key] == STAKE
    assert applied.validators_hash == decided.validators_hash
    assert applied.next_validators_hash == validator_set_hash(chain.active())
    assert chain.store.validator_set(applied.next_validators_hash) == chain.active()

    signed = chain.produce()  # h+2: the five vote on it
    assert signed.block.header.validators_hash == applied.next_validators_hash
    five = chain.active()
    certificate = chain.store.commit_at(h + 2)
    assert certificate is not None
    check_commit(CHAIN, five, certificate, signed.block.header)
    assert newcomer.public_key in {v.public_key for v in commit_signers(certificate, five)}

    chain.produce()  # h+3 records who signed h+2: the newcomer is tracked from there
    info = signing_info(chain.store, newcomer.public_key)
    assert info is not None and info.start_height == h + 2 and info.missed == ()
    chain.verify_replay(tmp_path / "replay")


def test_changes_are_audited_when_decided_and_when_applied(chain: CouncilChain) -> None:
    start = chain.store.audit_size()
    chain.decide(add(NEWCOMERS[0]))
    chain.produce()
    entries = chain.store.audit_entries(start, chain.store.audit_size())
    assert [(e.topic, e.contract) for e in entries] == [
        ("validator_change_decided", COUNCIL_ADDRESS.raw),
        ("validator_change_applied", COUNCIL_ADDRESS.raw),
    ]
    decided = decode(entries[0].data)
    assert decided["kind"] == "validator_add"
    assert decided["change"]["public_key"] == NEWCOMERS[0].public_key
    assert decided["effective_height"] == entries[0].height + 2
    assert decode(entries[1].data)["effective_height"] == entries[0].height + 2


def test_removals_and_stake_changes_follow_the_same_timing(chain: CouncilChain) -> None:
    chain.decide(ValidatorRemove(D.public_key), ValidatorSetStake(A.public_key, 250))
    assert chain.power() == {k.public_key: STAKE for k in (A, B, C, D)}
    chain.produce()
    assert chain.power() == {A.public_key: 250, B.public_key: STAKE, C.public_key: STAKE}
    assert signing_info(chain.store, D.public_key) is None
    chain.produce()
    chain.produce()
    assert chain.power() == {A.public_key: 250, B.public_key: STAKE, C.public_key: STAKE}


def test_a_sequence_of_changes_over_many_blocks(chain: CouncilChain, tmp_path: Path) -> None:
    """Add three, remove two, change a stake: every header names the set that signs it and
    the next one, each set is kept by its hash, and a replay from genesis agrees."""
    chain.decide(add(NEWCOMERS[0], 50, "e"))
    chain.produce()
    chain.decide(add(NEWCOMERS[1], 70, "f"), add(NEWCOMERS[2], 90, "g"))
    chain.produce()
    chain.decide(ValidatorRemove(A.public_key))
    chain.produce()
    chain.decide(ValidatorRemove(NEWCOMERS[0].public_key), ValidatorSetStake(B.public_key, 400))
    chain.produce_until(chain.head.height + 3)
    assert chain.power() == {
        B.public_key: 400,
        C.public_key: STAKE,
        D.public_key: STAKE,
        NEWCOMERS[1].public_key: 70,
        NEWCOMERS[2].public_key: 90,
    }
    for height in range(1, chain.head.height + 1):
        header = chain.store.block_at(height).header  # type: ignore[union-attr]
        voters = chain.store.validator_set(header.validators_hash)
        assert voters is not None
        check_commit(CHAIN, voters, chain.store.commit_at(height), header)  # type: ignore[arg-type]
        parent = chain.store.block_at(height - 1).header  # type: ignore[union-attr]
        assert header.validators_hash == parent.next_validators_hash
    chain.verify_replay(tmp_path / "replay")


# Who may change the set, and which changes are refused


def test_only_the_council_changes_the_set(chain: CouncilChain) -> None:
    tx = sign_tx(TxBody(CHAIN, key_address(A.public_key), 1, 1, add(NEWCOMERS[0])), [A])
    _, rejected = chain.build([tx])
    assert isinstance(rejected[0].error, NotOwner)
    one_of_two = chain.council_tx(add(NEWCOMERS[0]), [COUNCIL_1])
    _, rejected = chain.build([one_of_two])
    assert isinstance(rejected[0].error, PolicyNotSatisfied)


def test_a_newcomer_without_proof_of_possession_is_refused(chain: CouncilChain) -> None:
    good, other = add(NEWCOMERS[0]), add(NEWCOMERS[1])
    for bad in (
        replace(good, bls_pop=other.bls_pop),  # someone else's proof
        replace(good, bls_key=b"\xc0" + bytes(47)),  # the identity
        replace(good, bls_pop=bls.sign(bls.bls_keygen(bytes(32)), b"x")),
    ):
        _, rejected = chain.build([chain.council_tx(bad)])
        assert isinstance(rejected[0].error, InvalidBlsKey), rejected[0].error.message


def test_a_rogue_key_cannot_join(chain: CouncilChain) -> None:
    """A key chosen to cancel the others' (rogue) has no proof of possession its maker can
    produce: the only proofs at hand are the honest validators' own, for their own keys."""
    honest = [bls_registration(k) for k in (A, B, C, D)]
    for reg in honest:
        rogue = replace(add(NEWCOMERS[0]), bls_pop=reg.proof)
        _, rejected = chain.build([chain.council_tx(rogue)])
        assert isinstance(rejected[0].error, InvalidBlsKey)


def test_changes_that_do_not_apply_are_refused(chain: CouncilChain) -> None:
    assert "already in the active set" in chain.refused(add(A))
    b_bls = bls_registration(B)
    copied = ValidatorAdd(NEWCOMERS[0].public_key, b_bls.bls_key, b_bls.proof, STAKE, "copy")
    assert "is another validator's" in chain.refused(copied)
    assert "is not a validator" in chain.refused(ValidatorRemove(NEWCOMERS[0].public_key))
    assert "is not a validator" in chain.refused(ValidatorSetStake(NEWCOMERS[0].public_key, 5))


def test_changes_are_checked_against_the_pending_ones_before_them(chain: CouncilChain) -> None:
    chain.decide(ValidatorRemove(B.public_key))
    assert "is not a validator" in chain.refused(ValidatorRemove(B.public_key))
    chain.produce()
    chain.decide(ValidatorRemove(C.public_key), ValidatorRemove(D.public_key))
    assert "last active validator" in chain.refused(ValidatorRemove(A.public_key))


def test_the_last_validator_cannot_be_removed(tmp_path: Path) -> None:
    chain = CouncilChain(tmp_path / "one", make_genesis())
    try:
        chain.decide(*(ValidatorRemove(k.public_key) for k in (B, C, D)))
        chain.produce()
        assert list(chain.power()) == [A.public_key]
        assert "last active validator" in chain.refused(ValidatorRemove(A.public_key))
    finally:
        chain.store.close()


def test_a_change_that_no_longer_applies_is_dropped_and_audited(chain: CouncilChain) -> None:
    """Decided at h, the validator tombstoned by evidence in h+1 before the change applies."""
    chain.decide(ValidatorSetStake(D.public_key, 1_000))
    h = chain.head.height
    block = hash32(b"x"), hash32(b"y")
    evidence = make_evidence(
        sign_vote(D, CHAIN, VoteType.PRECOMMIT, h, 0, block[0]),
        sign_vote(D, CHAIN, VoteType.PRECOMMIT, h, 0, block[1]),
    )
    start = chain.store.audit_size()
    chain.produce(evidence=[evidence])
    assert D.public_key not in chain.power()
    entry = next(j for j in jailed_validators(chain.store) if j.public_key == D.public_key)
    assert entry.tombstoned and entry.blockstake < 1_000
    dropped = [e for e in chain.store.audit_entries(start, chain.store.audit_size())]
    assert [e.topic for e in dropped] == ["validator_change_dropped"]
    assert "tombstoned" in decode(dropped[0].data)["reason"]
    _, rejected = chain.build([chain.council_tx(ValidatorRemove(D.public_key))])
    assert isinstance(rejected[0].error, Tombstoned)


def test_a_jailed_validator_can_be_restaked_then_removed(tmp_path: Path) -> None:
    """Jailed for downtime, a validator takes its new stake back with it; removed, it leaves
    the jail book and cannot unjail."""
    chain = CouncilChain(tmp_path / "down", make_genesis(downtime_window=4, downtime_jail_blocks=3))
    try:
        while D.public_key in chain.power():
            chain.produce(absent=[D])
        assert D.public_key in {j.public_key for j in jailed_validators(chain.store)}
        chain.decide(ValidatorSetStake(D.public_key, 321))
        chain.produce()
        entry = next(j for j in jailed_validators(chain.store) if j.public_key == D.public_key)
        assert entry.blockstake == 321
        assert D.public_key not in chain.power()
        assert signing_info(chain.store, D.public_key) is not None
        chain.decide(ValidatorRemove(D.public_key))
        chain.produce()
        assert jailed_validators(chain.store) == ()
        assert signing_info(chain.store, D.public_key) is None  # a fresh record if it returns
        assert "is not a validator" in chain.refused(ValidatorRemove(D.public_key))
    finally:
        chain.store.close()


# Encodings


@pytest.mark.parametrize(
    "change",
    [add(NEWCOMERS[0]), ValidatorRemove(B.public_key), ValidatorSetStake(C.public_key, 7)],
)
def test_council_transactions_round_trip_and_show(change: ValidatorChange) -> None:
    tx = sign_tx(TxBody(CHAIN, COUNCIL_ADDRESS, 0, 1, change), [COUNCIL_1, COUNCIL_2])
    assert decode_tx(tx.encoded) == tx
    view = tx_to_json(tx)
    assert view["payload"]["public_key"] == change.public_key.hex()
    assert view["type"] in {"validator_add", "validator_remove", "validator_set_stake"}


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("bls_pop", bytes(95), "validator bls_pop"),
        ("bls_key", bytes(47), "validator bls_key"),
        ("blockstake", 0, "validator blockstake"),
        ("name", "x" * 65, "validator name"),
    ],
)
def test_a_malformed_council_transaction_names_its_field(
    field: str, value: object, reason: str
) -> None:
    tx = sign_tx(TxBody(CHAIN, COUNCIL_ADDRESS, 0, 1, add(NEWCOMERS[0])), [COUNCIL_1])
    raw = signed_tx_to_value(tx)
    raw["body"]["payload"][field] = value
    with pytest.raises(EncodingError, match=reason):
        decode_tx(encode(raw))
