"""Finality certificates: one aggregate BLS signature and a signer bitmap prove that more than
2/3 of the blockstake precommitted a block (chain/blocks/commit.py), and the precommits they
aggregate carry that BLS signature (chain/blocks/votes.py)."""

from dataclasses import replace

import pytest

from chain import bls
from chain.blocks.commit import (
    Commit,
    VoteType,
    aggregate_holds,
    check_commit,
    commit_signers,
    decode_commit,
    encode_commit,
    make_commit,
    sign_commit,
    signer_bitmap,
    signer_count,
    signer_indices,
    vote_sign_bytes,
)
from chain.blocks.header import Header
from chain.blocks.votes import (
    NIL,
    SignedVote,
    check_certifying_signature,
    decode_vote,
    encode_vote,
    sign_vote,
    vote_from_value,
    vote_to_value,
)
from chain.encoding import decode, encode
from chain.errors import EncodingError, InvalidBlock, InvalidSignature
from chain.hashing import hash32
from chain.keys import KeyPair, keypair_from_seed
from chain.merkle import EMPTY_ROOT
from chain.staking.validators import (
    ValidatorSet,
    make_validator_set,
    validator_bls_key,
    validator_with_key,
)

CHAIN = "gridchain-test"


def keys(n: int) -> list[KeyPair]:
    return [keypair_from_seed(hash32(b"certificate validator %d" % i)) for i in range(n)]


def vset_of(keypairs: list[KeyPair], stakes: list[int] | None = None) -> ValidatorSet:
    stakes = stakes or [10] * len(keypairs)
    return make_validator_set(
        [validator_with_key(k, s) for k, s in zip(keypairs, stakes, strict=True)]
    )


def header(height: int = 7) -> Header:
    return Header(
        chain_id=CHAIN,
        height=height,
        prev_hash=hash32(b"parent"),
        time_ms=1_000,
        proposer=bytes(32),
        tx_root=EMPTY_ROOT,
        tx_count=0,
        state_root=hash32(b"state"),
        audit_root=EMPTY_ROOT,
        audit_size=0,
        validators_hash=hash32(b"set"),
        next_validators_hash=hash32(b"set"),
        last_commit_hash=hash32(b"last"),
        evidence_hash=EMPTY_ROOT,
    )


def precommit_signatures(
    signers: list[KeyPair], head: Header, round_: int = 0
) -> dict[bytes, bytes]:
    message = vote_sign_bytes(CHAIN, head.height, round_, VoteType.PRECOMMIT, head.hash)
    return {k.public_key: bls.sign(validator_bls_key(k), message) for k in signers}


@pytest.fixture(scope="module")
def four() -> list[KeyPair]:
    return keys(4)


@pytest.fixture(scope="module")
def sixty_four() -> list[KeyPair]:
    return keys(64)


# Certificates that hold


@pytest.mark.parametrize("n", [4, 64])
def test_a_certificate_of_every_validator_verifies_with_one_aggregate(n: int) -> None:
    keypairs = keys(n)
    vset, head = vset_of(keypairs), header()
    commit = sign_commit(CHAIN, vset, keypairs, head, round_=2)
    check_commit(CHAIN, vset, commit, head)
    assert len(commit.signature) == bls.SIGNATURE_SIZE
    assert len(commit.signers) == (n + 7) // 8
    assert signer_count(commit) == n
    assert commit_signers(commit, vset) == vset.validators
    assert decode_commit(encode_commit(commit)) == commit


def test_just_over_two_thirds_of_64_verifies_and_two_thirds_does_not(
    sixty_four: list[KeyPair],
) -> None:
    vset, head = vset_of(sixty_four), header()
    order = [next(k for k in sixty_four if k.public_key == v.public_key) for v in vset.validators]
    # 43 of 64 equal stakes is more than 2/3; 42 is not (3 * 42 = 126 <= 128).
    enough = make_commit(vset, 7, 0, head.hash, precommit_signatures(order[::-1][:43], head))
    check_commit(CHAIN, vset, enough, head)
    short = make_commit(vset, 7, 0, head.hash, precommit_signatures(order[:42], head))
    with pytest.raises(InvalidBlock, match="420 of 640 blockstake, more than 2/3"):
        check_commit(CHAIN, vset, short, head)


def test_power_not_headcount_decides(four: list[KeyPair]) -> None:
    vset, head = vset_of(four, [70, 10, 10, 10]), header()
    whale = next(k for k in four if vset.power_of(k.public_key) == 70)
    others = [k for k in four if k is not whale]
    check_commit(CHAIN, vset, sign_commit(CHAIN, vset, [whale, others[0]], head), head)
    with pytest.raises(InvalidBlock, match="30 of 100 blockstake"):
        check_commit(CHAIN, vset, sign_commit(CHAIN, vset, others, head), head)


# Certificates that lie


def test_a_bitmap_naming_a_validator_that_did_not_sign_is_refused(four: list[KeyPair]) -> None:
    vset, head = vset_of(four), header()
    three = sign_commit(CHAIN, vset, four[:3], head)
    missing = next(
        i
        for i, v in enumerate(vset.validators)
        if v.public_key not in {k.public_key for k in four[:3]}
    )
    everyone = replace(three, signers=signer_bitmap(range(4)))
    with pytest.raises(InvalidBlock, match="not the aggregate of its 4 signers"):
        check_commit(CHAIN, vset, everyone, head)
    assert missing in signer_indices(everyone, 4)


def test_a_bitmap_hiding_a_signer_is_refused(four: list[KeyPair]) -> None:
    vset, head = vset_of(four), header()
    full = sign_commit(CHAIN, vset, four, head)
    hidden = replace(full, signers=signer_bitmap(range(1, 4)))
    with pytest.raises(InvalidBlock, match="not the aggregate of its 3 signers"):
        check_commit(CHAIN, vset, hidden, head)


def test_a_bitmap_past_the_set_is_refused(four: list[KeyPair]) -> None:
    vset, head = vset_of(four), header()
    full = sign_commit(CHAIN, vset, four, head)
    with pytest.raises(InvalidBlock, match="name validator 4 of a set of 4"):
        check_commit(CHAIN, vset, replace(full, signers=signer_bitmap(range(5))), head)


def test_a_forged_aggregate_is_refused(four: list[KeyPair]) -> None:
    vset, head = vset_of(four), header()
    full = sign_commit(CHAIN, vset, four, head)
    outsider = keypair_from_seed(hash32(b"outsider"))
    wrong_message = sign_commit(CHAIN, vset, four, header(height=8))
    for forged in (
        bls.sign(
            validator_bls_key(outsider), vote_sign_bytes(CHAIN, 7, 0, VoteType.PRECOMMIT, head.hash)
        ),
        replace(wrong_message, height=7, block_hash=head.hash).signature,
        sign_commit("another-chain", vset, four, head).signature,
        sign_commit(CHAIN, vset, four, head, round_=1).signature,  # another round's
        b"\xc0" + bytes(95),  # the identity
        bytes(96),  # not a point
    ):
        with pytest.raises(InvalidBlock, match="not the aggregate"):
            check_commit(CHAIN, vset, replace(full, signature=forged), head)


def test_a_certificate_of_prevotes_is_refused(four: list[KeyPair]) -> None:
    vset, head = vset_of(four), header()
    message = vote_sign_bytes(CHAIN, 7, 0, VoteType.PREVOTE, head.hash)
    prevotes = {k.public_key: bls.sign(validator_bls_key(k), message) for k in four}
    commit = make_commit(vset, 7, 0, head.hash, prevotes)
    with pytest.raises(InvalidBlock, match="not the aggregate"):
        check_commit(CHAIN, vset, commit, head)


def test_a_certificate_checked_against_another_set_is_refused(four: list[KeyPair]) -> None:
    """The same bitmap over another set names other keys: a certificate only holds against
    the set that voted."""
    head = header()
    commit = sign_commit(CHAIN, vset_of(four), four, head)
    others = vset_of(keys(6)[2:])  # four validators, two of them new
    with pytest.raises(InvalidBlock, match="not the aggregate"):
        check_commit(CHAIN, others, commit, head)


def test_a_certificate_for_another_block_is_refused(four: list[KeyPair]) -> None:
    vset = vset_of(four)
    commit = sign_commit(CHAIN, vset, four, header())
    with pytest.raises(InvalidBlock, match="another block"):
        check_commit(CHAIN, vset, commit, header(height=8))


def test_make_commit_refuses_a_signer_outside_the_set(four: list[KeyPair]) -> None:
    vset, head = vset_of(four[:3]), header()
    with pytest.raises(InvalidBlock, match="not in the set"):
        make_commit(vset, 7, 0, head.hash, precommit_signatures(four, head))


# Encodings


def test_the_bitmap_has_one_encoding() -> None:
    assert signer_bitmap([]) == b""
    assert signer_bitmap([0]) == b"\x01"
    assert signer_bitmap([7, 0, 0]) == b"\x81"
    assert signer_bitmap([8]) == b"\x00\x01"
    assert signer_bitmap([255]) == bytes(31) + b"\x80"


def test_commit_encodings_that_are_not_canonical_are_refused(four: list[KeyPair]) -> None:
    vset, head = vset_of(four), header()
    value = decode(encode_commit(sign_commit(CHAIN, vset, four, head)))
    for signers, reason in (
        (b"", "last byte is not zero"),
        (b"\x0f\x00", "last byte is not zero"),
        (bytes(32) + b"\x01", "commit signers"),
    ):
        with pytest.raises(EncodingError, match=reason):
            decode_commit(encode({**value, "signers": signers}))
    with pytest.raises(EncodingError, match="commit signature"):
        decode_commit(encode({**value, "signature": value["signature"][:48]}))
    with pytest.raises(EncodingError, match="commit"):
        decode_commit(encode({**value, "signatures": []}))


def test_a_precommit_for_a_block_carries_a_bls_signature_and_no_other_vote_does() -> None:
    key, block = keys(1)[0], hash32(b"block")
    precommit = sign_vote(key, CHAIN, VoteType.PRECOMMIT, 3, 0, block)
    assert len(precommit.bls_signature) == bls.SIGNATURE_SIZE
    assert decode_vote(encode_vote(precommit)) == precommit
    check_certifying_signature(CHAIN, precommit, validator_bls_key(key).public_key)
    for vote in (
        sign_vote(key, CHAIN, VoteType.PREVOTE, 3, 0, block),
        sign_vote(key, CHAIN, VoteType.PRECOMMIT, 3, 0, NIL),
    ):
        assert vote.bls_signature == b""
        assert decode_vote(encode_vote(vote)) == vote


def test_vote_encodings_with_a_misplaced_bls_signature_are_refused() -> None:
    key, block = keys(1)[0], hash32(b"block")
    precommit = sign_vote(key, CHAIN, VoteType.PRECOMMIT, 3, 0, block)
    prevote = sign_vote(key, CHAIN, VoteType.PREVOTE, 3, 0, block)
    for vote in (
        replace(precommit, bls_signature=b""),
        replace(precommit, bls_signature=precommit.bls_signature[:95]),
        replace(prevote, bls_signature=precommit.bls_signature),
    ):
        with pytest.raises(EncodingError, match="bls_signature"):
            vote_from_value(vote_to_value(vote))


def test_a_precommit_whose_bls_signature_does_not_verify_is_refused() -> None:
    key, other, block = keys(2)[0], keys(2)[1], hash32(b"block")
    precommit = sign_vote(key, CHAIN, VoteType.PRECOMMIT, 3, 0, block)
    borrowed = sign_vote(other, CHAIN, VoteType.PRECOMMIT, 3, 0, block).bls_signature
    another_round = sign_vote(key, CHAIN, VoteType.PRECOMMIT, 3, 1, block).bls_signature
    for bad in (borrowed, another_round, b"\xc0" + bytes(95)):
        vote: SignedVote = replace(precommit, bls_signature=bad)
        with pytest.raises(InvalidSignature, match="BLS signature that does not verify"):
            check_certifying_signature(CHAIN, vote, validator_bls_key(key).public_key)
    with pytest.raises(InvalidSignature, match="BLS signature"):
        check_certifying_signature(CHAIN, precommit, validator_bls_key(other).public_key)


def test_the_aggregate_is_the_same_whoever_gathers_it(four: list[KeyPair]) -> None:
    """Nodes gather precommits in any order; the certificate is the same bytes."""
    vset, head = vset_of(four), header()
    signatures = precommit_signatures(four, head)
    forward = make_commit(vset, 7, 0, head.hash, signatures)
    backward = make_commit(vset, 7, 0, head.hash, dict(reversed(list(signatures.items()))))
    assert encode_commit(forward) == encode_commit(backward)
    assert isinstance(forward, Commit)


def test_a_certificate_checked_again_costs_no_second_pairing_check(four: list[KeyPair]) -> None:
    """Its block checks it, then the next block's last_commit: the verdict is kept."""
    vset, head = vset_of(four), header(height=11)
    commit = sign_commit(CHAIN, vset, four, head)
    before = aggregate_holds.cache_info()
    check_commit(CHAIN, vset, commit, head)
    check_commit(CHAIN, vset, commit, head)
    after = aggregate_holds.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)
    forged = replace(commit, signature=sign_commit(CHAIN, vset, four, header(12)).signature)
    for _ in range(2):  # a kept "no" is still a no
        with pytest.raises(InvalidBlock, match="not the aggregate"):
            check_commit(CHAIN, vset, forged, head)
