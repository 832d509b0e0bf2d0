"""Signed consensus messages: votes and proposals, with their canonical encodings.

They live in chain/ because blocks carry them (commits, equivocation evidence) and every
validator must agree on their bytes. A nil vote names no block: its block hash is empty.

Every vote is signed with the validator's ed25519 key. A precommit for a block is also signed
with its BLS key, over the same sign bytes: those BLS signatures are what a commit aggregates.
"""

from dataclasses import dataclass
from typing import Any

from chain import bls
from chain.blocks.commit import VoteType, vote_sign_bytes
from chain.blocks.header import MAX_HEIGHT
from chain.encoding import decode, encode, expect_bytes, expect_int, expect_map
from chain.errors import EncodingError, InvalidSignature
from chain.hashing import HASH_SIZE
from chain.keys import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, KeyPair, verify_signature
from chain.staking.validators import validator_bls_key

NIL = b""
MAX_ROUND = 2**31


@dataclass(frozen=True)
class SignedVote:
    vote_type: VoteType
    height: int
    round: int
    block_hash: bytes  # NIL for a vote for no block
    validator: bytes
    signature: bytes
    bls_signature: bytes = b""  # a precommit for a block only (`certifies`)

    def sign_bytes(self, chain_id: str) -> bytes:
        return vote_sign_bytes(chain_id, self.height, self.round, self.vote_type, self.block_hash)

    @property
    def certifies(self) -> bool:
        """A precommit for a block: it goes into that block's certificate."""
        return certifies(self.vote_type, self.block_hash)


def certifies(vote_type: VoteType, block_hash: bytes) -> bool:
    return vote_type == VoteType.PRECOMMIT and block_hash != NIL


@dataclass(frozen=True)
class SignedProposal:
    """The proposer's signed claim that `block_hash` is its block for (height, round)."""

    height: int
    round: int
    valid_round: int  # -1 for a fresh block, else the round it was locked in
    block_hash: bytes
    proposer: bytes
    signature: bytes

    def sign_bytes(self, chain_id: str) -> bytes:
        return proposal_sign_bytes(
            chain_id, self.height, self.round, self.valid_round, self.block_hash
        )


def proposal_sign_bytes(
    chain_id: str, height: int, round_: int, valid_round: int, block_hash: bytes
) -> bytes:
    return b"gc/proposal\x00" + encode(
        {
            "chain_id": chain_id,
            "height": height,
            "round": round_,
            "valid_round": valid_round + 1,  # CBOR ints here are unsigned: -1 travels as 0
            "block_hash": block_hash,
        }
    )


def sign_vote(
    key: KeyPair, chain_id: str, vote_type: VoteType, height: int, round_: int, block_hash: bytes
) -> SignedVote:
    message = vote_sign_bytes(chain_id, height, round_, vote_type, block_hash)
    bls_signature = b""
    if certifies(vote_type, block_hash):
        bls_signature = bls.sign(validator_bls_key(key), message)
    return SignedVote(
        vote_type, height, round_, block_hash, key.public_key, key.sign(message), bls_signature
    )


def sign_proposal(
    key: KeyPair, chain_id: str, height: int, round_: int, valid_round: int, block_hash: bytes
) -> SignedProposal:
    message = proposal_sign_bytes(chain_id, height, round_, valid_round, block_hash)
    return SignedProposal(
        height, round_, valid_round, block_hash, key.public_key, key.sign(message)
    )


def check_vote_signature(chain_id: str, vote: SignedVote) -> None:
    if not verify_signature(vote.validator, vote.sign_bytes(chain_id), vote.signature):
        raise InvalidSignature(
            f"{vote.vote_type.name.lower()} by {vote.validator.hex()} at height {vote.height} "
            f"round {vote.round} does not verify"
        )


def check_certifying_signature(chain_id: str, vote: SignedVote, bls_key: bytes) -> None:
    """A precommit for a block must carry its validator's BLS signature of the same bytes, or
    it could not join the certificate; checked before the vote counts towards a decision, so
    a decided block always has a certificate."""
    if vote.certifies and not bls.verify(bls_key, vote.sign_bytes(chain_id), vote.bls_signature):
        raise InvalidSignature(
            f"precommit by {vote.validator.hex()} at height {vote.height} round {vote.round} "
            "has a BLS signature that does not verify"
        )


def check_proposal_signature(chain_id: str, proposal: SignedProposal) -> None:
    if not verify_signature(proposal.proposer, proposal.sign_bytes(chain_id), proposal.signature):
        raise InvalidSignature(
            f"proposal by {proposal.proposer.hex()} at height {proposal.height} "
            f"round {proposal.round} does not verify"
        )


# Encodings

VOTE_FIELDS = ("type", "height", "round", "block_hash", "validator", "signature", "bls_signature")
PROPOSAL_FIELDS = ("height", "round", "valid_round", "block_hash", "proposer", "signature")


def vote_to_value(vote: SignedVote) -> dict[str, Any]:
    return {
        "type": int(vote.vote_type),
        "height": vote.height,
        "round": vote.round,
        "block_hash": vote.block_hash,
        "validator": vote.validator,
        "signature": vote.signature,
        "bls_signature": vote.bls_signature,
    }


def vote_from_value(value: Any) -> SignedVote:
    f = expect_map(value, "vote", VOTE_FIELDS)
    kind = expect_int(f["type"], "vote type", 1, 2)
    block_hash = expect_bytes(f["block_hash"], "vote block_hash", max_size=HASH_SIZE)
    if len(block_hash) not in (0, HASH_SIZE):
        raise EncodingError(f"vote block_hash must be empty (nil) or {HASH_SIZE} bytes")
    bls_size = bls.SIGNATURE_SIZE if certifies(VoteType(kind), block_hash) else 0
    bls_signature = expect_bytes(f["bls_signature"], "vote bls_signature", max_size=bls_size)
    if len(bls_signature) != bls_size:
        raise EncodingError(
            "vote bls_signature must be 96 bytes for a precommit for a block, else empty"
        )
    return SignedVote(
        vote_type=VoteType(kind),
        height=expect_int(f["height"], "vote height", 1, MAX_HEIGHT),
        round=expect_int(f["round"], "vote round", 0, MAX_ROUND),
        block_hash=block_hash,
        validator=expect_bytes(f["validator"], "vote validator", PUBLIC_KEY_SIZE),
        signature=expect_bytes(f["signature"], "vote signature", SIGNATURE_SIZE),
        bls_signature=bls_signature,
    )


def proposal_to_value(proposal: SignedProposal) -> dict[str, Any]:
    return {
        "height": proposal.height,
        "round": proposal.round,
        "valid_round": proposal.valid_round + 1,
        "block_hash": proposal.block_hash,
        "proposer": proposal.proposer,
        "signature": proposal.signature,
    }


def proposal_from_value(value: Any) -> SignedProposal:
    f = expect_map(value, "proposal", PROPOSAL_FIELDS)
    round_ = expect_int(f["round"], "proposal round", 0, MAX_ROUND)
    valid_round = expect_int(f["valid_round"], "proposal valid_round", 0, MAX_ROUND) - 1
    if valid_round >= round_:
        raise EncodingError(f"proposal valid_round {valid_round} is not before round {round_}")
    return SignedProposal(
        height=expect_int(f["height"], "proposal height", 1, MAX_HEIGHT),
        round=round_,
        valid_round=valid_round,
        block_hash=expect_bytes(f["block_hash"], "proposal block_hash", HASH_SIZE),
        proposer=expect_bytes(f["proposer"], "proposal proposer", PUBLIC_KEY_SIZE),
        signature=expect_bytes(f["signature"], "proposal signature", SIGNATURE_SIZE),
    )


def encode_vote(vote: SignedVote) -> bytes:
    return encode(vote_to_value(vote))


def decode_vote(data: bytes) -> SignedVote:
    return vote_from_value(decode(data))


def vote_to_json(vote: SignedVote) -> dict[str, Any]:
    return {
        "type": vote.vote_type.name.lower(),
        "height": vote.height,
        "round": vote.round,
        "block_hash": vote.block_hash.hex() or None,
        "validator": vote.validator.hex(),
        "signature": vote.signature.hex(),
        "bls_signature": vote.bls_signature.hex() or None,
    }
