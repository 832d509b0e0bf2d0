"""Evidence of misbehaviour that blocks carry: a validator's two votes at one position.

A validator that signs two different votes of the same type for the same height and round
(two blocks, or a block and nil) has equivocated. Either vote alone is harmless; the pair, with
both signatures, proves the fault to anyone. One misbehaviour has one encoding: the votes are
stored ordered by block hash, `first.block_hash < second.block_hash` (a nil vote's hash is empty,
so it always comes first).

`check_evidence` holds the rules that need only the evidence, the block height, the parameters
and the active validator set; what it does to the state is in chain/staking/slashing.py.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chain.blocks.votes import (
    SignedVote,
    check_vote_signature,
    vote_from_value,
    vote_to_json,
    vote_to_value,
)
from chain.encoding import decode, encode, expect_list, expect_map
from chain.errors import InvalidEvidence, RuleViolation
from chain.hashing import tagged_hash
from chain.staking.validators import ValidatorSet

MAX_EVIDENCE_PER_BLOCK = 64
MAX_EVIDENCE_SIZE = 4096  # one encoded evidence is about 400 bytes


@dataclass(frozen=True)
class DuplicateVoteEvidence:
    """Two conflicting votes by one validator; canonical when first.block_hash < second's."""

    first: SignedVote
    second: SignedVote

    @property
    def validator(self) -> bytes:
        return self.first.validator

    @property
    def height(self) -> int:
        return self.first.height


def make_evidence(a: SignedVote, b: SignedVote) -> DuplicateVoteEvidence:
    """The evidence of two conflicting votes, in canonical order (it is checked separately)."""
    first, second = (a, b) if a.block_hash <= b.block_hash else (b, a)
    return DuplicateVoteEvidence(first, second)


# Rules


def check_conflicting(evidence: DuplicateVoteEvidence) -> None:
    """The two votes are by one validator at one position, for different blocks, in order."""
    a, b = evidence.first, evidence.second
    if a.validator != b.validator:
        raise InvalidEvidence("evidence votes are by two different validators")
    if a.height != b.height:
        raise InvalidEvidence(f"evidence votes are for two heights, {a.height} and {b.height}")
    if a.round != b.round:
        raise InvalidEvidence(f"evidence votes are for two rounds, {a.round} and {b.round}")
    if a.vote_type != b.vote_type:
        raise InvalidEvidence("evidence votes are of two types (a prevote and a precommit)")
    if a.block_hash == b.block_hash:
        raise InvalidEvidence("evidence votes are for the same block: that is not a double vote")
    if a.block_hash > b.block_hash:
        raise InvalidEvidence("evidence votes must be ordered by block hash, lower first")


def check_evidence_age(evidence: DuplicateVoteEvidence, height: int, max_age: int) -> None:
    """Evidence is about a past height, at most `max_age` blocks back."""
    if evidence.height >= height:
        raise InvalidEvidence(
            f"evidence height {evidence.height} is not below the block height {height}"
        )
    if evidence.height < height - max_age:
        raise InvalidEvidence(
            f"evidence from height {evidence.height} is too old: older than {max_age} blocks "
            f"before height {height}"
        )


def check_evidence_signatures(chain_id: str, evidence: DuplicateVoteEvidence) -> None:
    for vote in (evidence.first, evidence.second):
        try:
            check_vote_signature(chain_id, vote)
        except RuleViolation as exc:
            raise InvalidEvidence(f"evidence vote signature is invalid: {exc.message}") from None


def check_evidence(
    chain_id: str,
    height: int,
    max_age: int,
    active: ValidatorSet,
    evidence: DuplicateVoteEvidence,
) -> None:
    """Evidence for a block at `height`, with the signature checks last (the costly part)."""
    check_conflicting(evidence)
    check_evidence_age(evidence, height, max_age)
    if active.power_of(evidence.validator) == 0:
        raise InvalidEvidence(
            f"validator {evidence.validator.hex()} is not an active validator (already jailed?)"
        )
    check_evidence_signatures(chain_id, evidence)


# Encodings


def evidence_to_value(evidence: DuplicateVoteEvidence) -> dict[str, Any]:
    return {"first": vote_to_value(evidence.first), "second": vote_to_value(evidence.second)}


def evidence_from_value(value: Any) -> DuplicateVoteEvidence:
    """Decodes the shape only; `check_conflicting` (and the rest) decides whether it is valid."""
    f = expect_map(value, "evidence", ("first", "second"))
    return DuplicateVoteEvidence(vote_from_value(f["first"]), vote_from_value(f["second"]))


def evidence_list_to_value(evidence: Sequence[DuplicateVoteEvidence]) -> list[Any]:
    return [evidence_to_value(e) for e in evidence]


def evidence_list_from_value(value: Any) -> tuple[DuplicateVoteEvidence, ...]:
    items = expect_list(value, "evidence list", MAX_EVIDENCE_PER_BLOCK)
    return tuple(evidence_from_value(item) for item in items)


def encode_evidence(evidence: DuplicateVoteEvidence) -> bytes:
    return encode(evidence_to_value(evidence))


def decode_evidence(data: bytes) -> DuplicateVoteEvidence:
    return evidence_from_value(decode(data, MAX_EVIDENCE_SIZE))


def evidence_hash(evidence: Sequence[DuplicateVoteEvidence]) -> bytes:
    """What the header's evidence_hash commits to; an empty list gives EMPTY_EVIDENCE_HASH."""
    return tagged_hash(b"gc/evidence", encode(evidence_list_to_value(evidence)))


EMPTY_EVIDENCE_HASH = evidence_hash(())


def evidence_to_json(evidence: DuplicateVoteEvidence) -> dict[str, Any]:
    return {
        "type": "duplicate_vote",
        "validator": evidence.validator.hex(),
        "height": evidence.height,
        "round": evidence.first.round,
        "vote_type": evidence.first.vote_type.name.lower(),
        "first": vote_to_json(evidence.first),
        "second": vote_to_json(evidence.second),
    }
