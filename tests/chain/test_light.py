"""The light client's rules (chain/light/): from genesis alone, through the council's changes
of the validator set, skipping where the trusted set vouches and bisecting where it does not;
real stores, real certificates."""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from py_arkworks_bls12381 import G1Point

from chain import bls
from chain.blockchain import genesis_block
from chain.blocks.commit import Commit, VoteType, sign_commit, signer_bitmap, vote_sign_bytes
from chain.errors import EncodingError
from chain.keys import keypair_from_seed
from chain.light.blocks import (
    LightBlock,
    decode_light_block,
    encode_light_block,
    light_block_at,
)
from chain.light.verify import (
    LightBlockInvalid,
    NotEnoughTrust,
    check_light_block,
    double_signers,
    pivot,
    verify_adjacent,
    verify_light_block,
    verify_skipping,
    verify_to,
)
from chain.staking.txs import ValidatorRemove, ValidatorSetStake
from chain.staking.validators import (
    Validator,
    make_validator_set,
    validator_set_hash,
    validator_with_key,
)
from node.api import light as light_api
from node.api.light import light_path
from tests.kit.councilkit import (
    CHAIN,
    NEWCOMERS,
    A,
    B,
    C,
    CouncilChain,
    D,
    add,
    make_genesis,
)


def root(chain: CouncilChain) -> LightBlock:
    """The trust root a light client makes from the genesis file alone."""
    genesis = chain.genesis
    return LightBlock(genesis_block(genesis).block.header, genesis.validators, None)


def at(chain: CouncilChain, height: int) -> LightBlock:
    block = light_block_at(chain.store, height)
    assert block is not None
    return block


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CouncilChain]:
    """Sixty blocks over which the council adds three validators, removes two and changes a
    stake; then replaces the rest of the genesis set, so that by the end no genesis validator
    is left."""
    chain = CouncilChain(tmp_path_factory.mktemp("light") / "chain", make_genesis())
    e, f, g, h, i = NEWCOMERS[:5]
    steps = {
        5: [add(e)],
        12: [add(f, 300), add(g)],
        20: [ValidatorRemove(A.public_key)],
        28: [ValidatorRemove(B.public_key), ValidatorSetStake(C.public_key, 250)],
        36: [add(h), add(i)],
        44: [ValidatorRemove(C.public_key)],
        50: [ValidatorRemove(D.public_key)],
    }
    while chain.head.height < 60:
        changes = steps.get(chain.head.height + 1)
        if changes:
            chain.decide(*changes)
        else:
            chain.produce()
    yield chain
    chain.store.close()


def test_the_trust_root_is_the_stored_genesis(changed: CouncilChain) -> None:
    assert root(changed) == replace(at(changed, 0), commit=None)
    assert at(changed, 0).header == changed.store.block_at(0).header  # type: ignore[union-attr]


def test_every_height_verifies_from_its_parent(changed: CouncilChain) -> None:
    trusted = root(changed)
    for height in range(1, changed.head.height + 1):
        block = at(changed, height)
        verify_adjacent(CHAIN, trusted, block)
        trusted = block


def test_a_light_client_reaches_the_head_from_genesis_skipping(changed: CouncilChain) -> None:
    fetched: list[int] = []
    verified: list[int] = []

    def fetch(height: int) -> LightBlock:
        fetched.append(height)
        return at(changed, height)

    top = changed.head.height
    last = verify_to(CHAIN, root(changed), top, fetch, lambda b: verified.append(b.height))
    assert last.header == changed.head
    assert verified == sorted(verified) and verified[-1] == top
    # The whole genesis set is gone by the end: no single skip from genesis can do, and
    # bisection needs far fewer certificates than one per height.
    assert len(verified) > 1
    assert len(set(fetched)) < top // 3, fetched


def test_a_path_is_served_in_bounded_parts_that_join_up(
    changed: CouncilChain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node answers at most MAX_PATH_BLOCKS light blocks at a time (GET /v1/light/path); the
    parts, each asked from the last block of the one before, are the whole path."""
    top = changed.head.height
    with changed.store.snapshot() as snap:
        whole = light_path(snap, CHAIN, 0, top)
        assert len(whole) >= 2
        monkeypatch.setattr(light_api, "MAX_PATH_BLOCKS", 1)
        parts: list[LightBlock] = []
        start = 0
        while start < top:
            part = light_path(snap, CHAIN, start, top)
            assert len(part) == 1
            parts += part
            start = part[-1].height
    assert [b.height for b in parts] == [b.height for b in whole]
    stopped = verify_to(CHAIN, root(changed), top, lambda h: at(changed, h), max_blocks=1)
    assert stopped.height == whole[0].height < top


def test_a_skip_the_trusted_set_cannot_vouch_for_is_not_enough_trust(
    changed: CouncilChain,
) -> None:
    with pytest.raises(NotEnoughTrust, match="more than 1/3"):
        verify_skipping(CHAIN, root(changed), at(changed, changed.head.height))
    verify_skipping(CHAIN, root(changed), at(changed, 10))  # the genesis set still signs


def test_pivot_bisects_at_nine_sixteenths() -> None:
    assert pivot(0, 16) == 9
    assert pivot(10, 12) == 11
    assert pivot(10, 11) == 11
    assert all(10 < pivot(10, t) < t for t in range(12, 200))


# Blocks that lie


def test_a_tampered_header_is_refused(changed: CouncilChain) -> None:
    trusted, good = at(changed, 9), at(changed, 10)
    for tampered in (
        replace(good.header, state_root=bytes(32)),
        replace(good.header, audit_size=good.header.audit_size + 1),
        replace(good.header, time_ms=good.header.time_ms + 1),
    ):
        with pytest.raises(LightBlockInvalid, match="another block"):
            verify_light_block(CHAIN, trusted, replace(good, header=tampered))


def test_a_set_that_is_not_the_headers_is_refused(changed: CouncilChain) -> None:
    trusted, good = at(changed, 9), at(changed, 10)
    other = make_validator_set([validator_with_key(k, 100) for k in (A, B, C, NEWCOMERS[7])])
    with pytest.raises(LightBlockInvalid, match="does not hash to the header"):
        verify_adjacent(CHAIN, trusted, replace(good, validators=other))


def test_a_forged_certificate_with_its_own_set_is_refused(changed: CouncilChain) -> None:
    """An attacker's keys make a valid aggregate, but their set is not the header's, and a
    header naming their set is not signed by the trusted one."""
    trusted, good = at(changed, 9), at(changed, 10)
    rogue_keys = NEWCOMERS[5:8]
    rogue_set = make_validator_set([validator_with_key(k, 1_000) for k in rogue_keys])
    forged_header = replace(good.header, validators_hash=trusted.header.next_validators_hash)
    forged = LightBlock(
        forged_header, good.validators, sign_commit(CHAIN, rogue_set, rogue_keys, forged_header)
    )
    with pytest.raises(LightBlockInvalid):
        verify_adjacent(CHAIN, trusted, forged)
    lunatic_header = replace(good.header, validators_hash=validator_set_hash(rogue_set))
    lunatic = LightBlock(
        lunatic_header, rogue_set, sign_commit(CHAIN, rogue_set, rogue_keys, lunatic_header)
    )
    with pytest.raises(LightBlockInvalid, match="another set"):
        verify_adjacent(CHAIN, trusted, lunatic)
    with pytest.raises(NotEnoughTrust):
        verify_skipping(CHAIN, at(changed, 5), lunatic)


def test_a_rogue_key_cannot_make_the_trusted_set_sign_a_skip(changed: CouncilChain) -> None:
    """The attack a skip invites: a set the client has never seen holds the genesis
    validators and one made-up validator whose BLS key is g1^a minus theirs, so the attacker's
    lone signature is a valid aggregate of all of them. The genesis set would seem to vouch for
    a header none of it signed; the made-up key's proof of possession is what refuses it."""
    trusted, good = root(changed), at(changed, 60)
    attacker = bls.bls_keygen(bytes(range(32)))
    honest = trusted.validators.validators
    rogue_point = G1Point.from_compressed_bytes(attacker.public_key)
    for v in honest:
        rogue_point = rogue_point - G1Point.from_compressed_bytes(v.bls_key)
    rogue = Validator(
        keypair_from_seed(bytes(32)).public_key,
        rogue_point.to_compressed_bytes(),
        bls.prove_possession(attacker),  # the best it can do: a proof for its own key
        10 * trusted.validators.total_power,
        "rogue",
    )
    forged_set = make_validator_set([*honest, rogue])
    header = replace(
        good.header, state_root=bytes(32), validators_hash=validator_set_hash(forged_set)
    )
    message = vote_sign_bytes(CHAIN, header.height, 0, VoteType.PRECOMMIT, header.hash)
    everyone = signer_bitmap(range(len(forged_set.validators)))
    forged = LightBlock(
        header,
        forged_set,
        Commit(header.height, 0, header.hash, everyone, bls.sign(attacker, message)),
    )
    # Without the proof the forgery would pass: the aggregate holds and the genesis set signed.
    check_light_block(CHAIN, forged)
    with pytest.raises(LightBlockInvalid, match="proof of possession"):
        verify_skipping(CHAIN, trusted, forged)
    with pytest.raises(LightBlockInvalid, match="proof of possession"):
        verify_to(
            CHAIN,
            trusted,
            header.height,
            lambda h: forged if h == header.height else at(changed, h),
        )


def test_a_bitmap_that_lies_is_refused(changed: CouncilChain) -> None:
    trusted, good = at(changed, 9), at(changed, 10)
    assert good.commit is not None
    size = len(good.validators.validators)
    lying = replace(good.commit, signers=signer_bitmap(range(1, size)))
    with pytest.raises(LightBlockInvalid, match="not the aggregate"):
        verify_adjacent(CHAIN, trusted, replace(good, commit=lying))
    with pytest.raises(LightBlockInvalid, match="not the aggregate"):
        verify_skipping(CHAIN, at(changed, 2), replace(good, commit=lying))


def test_heights_and_times_must_move_forward(changed: CouncilChain) -> None:
    with pytest.raises(LightBlockInvalid, match="does not follow"):
        verify_light_block(CHAIN, at(changed, 10), at(changed, 9))
    with pytest.raises(LightBlockInvalid, match="does not name the trusted header"):
        verify_adjacent(
            CHAIN,
            at(changed, 9),
            replace(at(changed, 10), header=replace(at(changed, 10).header, prev_hash=bytes(32))),
        )


def test_another_chains_block_is_refused(changed: CouncilChain) -> None:
    good = at(changed, 10)
    with pytest.raises(LightBlockInvalid, match="of chain"):
        verify_adjacent("another", at(changed, 9), good)


# Conflicting headers


def test_a_fork_names_the_validators_that_signed_both(tmp_path: Path) -> None:
    """Two chains from one genesis whose validators all signed both: each of them signed two
    headers for one height."""
    first = CouncilChain(tmp_path / "first", make_genesis())
    second = CouncilChain(tmp_path / "second", make_genesis())
    try:
        first.produce()
        second.decide(add(NEWCOMERS[0]))  # a different block 2
        ours, theirs = at(first, 2), at(second, 2)
        assert ours.header.hash != theirs.header.hash
        verify_to(CHAIN, root(first), 2, lambda h: at(first, h))
        verify_to(CHAIN, root(second), 2, lambda h: at(second, h))
        signed_both = double_signers(ours, theirs)
        assert {v.public_key for v in signed_both} == {k.public_key for k in (A, B, C, D)}
    finally:
        first.store.close()
        second.store.close()


# Encoding


def test_light_blocks_round_trip_and_refuse_a_missing_certificate(changed: CouncilChain) -> None:
    block = at(changed, 30)
    assert decode_light_block(encode_light_block(block)) == block
    assert decode_light_block(encode_light_block(at(changed, 0))).commit is None
    with pytest.raises(EncodingError, match="one certificate, except at genesis"):
        decode_light_block(encode_light_block(replace(block, commit=None)))
