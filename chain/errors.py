"""Named errors: rule violations, kept apart from faults of this machine.

A rule violation says the input is wrong: a transaction, block, vote, message or file breaks a
rule, and every honest node reaches the same verdict. A local fault says this machine failed: a
missing or corrupt stored record, a full disk, a bad config, an unreadable key file. A block is
never judged invalid, nor a transaction dropped, because of a local fault: block building and
validation catch rule violations only, so a local fault stops the node loudly instead of making
it vote on a guess, and the API answers one with 500.
"""

from typing import Any, TypeVar

T = TypeVar("T")


class GridchainError(Exception):
    """Base of every error the project raises on purpose; `code` is its stable name."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RuleViolation(GridchainError):
    """The input breaks a rule: the same verdict on every honest node."""

    code = "invalid"


class LocalFault(GridchainError):
    """This machine failed (storage, files, config): never a verdict on the input."""

    code = "local_fault"


class StoreError(LocalFault):
    """The chain database cannot do what was asked (missing block, wrong head, I/O error)."""

    code = "store_error"


class CorruptRecord(LocalFault):
    """A record this node stored does not decode, or one the rules rely on is missing."""

    code = "corrupt_record"


def present(value: T | None, what: str) -> T:
    """`value`, which the state guarantees (a node's farm, the current epoch): its absence
    means damaged state, a local fault, never a verdict on the block being processed."""
    if value is None:
        raise CorruptRecord(f"the state lacks {what}")
    return value


# Rule violations of any input


class EncodingError(RuleViolation):
    """Bytes that are not the canonical encoding of what they claim to be."""

    code = "malformed_encoding"


class InvalidAddress(RuleViolation):
    """An address of the wrong length, type, or checksum."""

    code = "invalid_address"


class InvalidSignature(RuleViolation):
    """A signature that does not verify, or a key that does not own what it signs for."""

    code = "bad_signature"


class InvalidBlsKey(RuleViolation):
    """A BLS public key that no honest validator could hold: a malformed or non-canonical
    encoding, the identity point (it verifies the identity signature for any message), or a
    point outside the prime-order subgroup."""

    code = "invalid_bls_key"


class InvalidPolicy(RuleViolation):
    """A multisig policy that is malformed (signers, weights, threshold)."""

    code = "invalid_policy"


class InvalidBlock(RuleViolation):
    """A block that breaks a rule of the chain."""

    code = "invalid_block"


class InvalidEvidence(RuleViolation):
    """Evidence of equivocation that does not prove it."""

    code = "invalid_evidence"


class InvalidProof(RuleViolation):
    """A Merkle or audit proof that does not check out."""

    code = "invalid_proof"


class InvalidSnapshot(RuleViolation):
    """A state snapshot (its manifest or a chunk) that does not make the verified state root."""

    code = "invalid_snapshot"


class InvalidParams(RuleViolation):
    """Chain parameters outside their bounds."""

    code = "invalid_params"


# Rule violations of a transaction


class InvalidTransaction(RuleViolation):
    """A transaction that cannot be executed as it stands."""

    code = "invalid_transaction"


class WrongChain(InvalidTransaction):
    """Signed for another chain id."""

    code = "wrong_chain"


class StaleNonce(InvalidTransaction):
    """A nonce the sender already used."""

    code = "stale_nonce"


class FutureNonce(InvalidTransaction):
    """A nonce that leaves a gap after the sender's last one."""

    code = "future_nonce"


class InsufficientBalance(InvalidTransaction):
    """The sender cannot pay the amount and the fee."""

    code = "insufficient_balance"


class BalanceOverflow(InvalidTransaction):
    """A credit that would take a balance above MAX_BALANCE (no balance is ever clamped)."""

    code = "balance_overflow"


class FeeTooLow(InvalidTransaction):
    """A fee below the chain's minimum (or below what the gas limit needs)."""

    code = "fee_too_low"


class PolicyNotSatisfied(InvalidTransaction):
    """A multisig transaction without the signatures its policy requires."""

    code = "policy_not_satisfied"


class UnknownAccount(InvalidTransaction):
    """A sender that was never funded."""

    code = "unknown_account"


class NotJailed(InvalidTransaction):
    """An unjail for a validator that is not jailed."""

    code = "not_jailed"


class StillJailed(InvalidTransaction):
    """An unjail before the validator's jail time is over."""

    code = "still_jailed"


class Tombstoned(InvalidTransaction):
    """An unjail for a validator jailed for ever (it double-signed)."""

    code = "tombstoned"


class UnknownFarm(InvalidTransaction):
    """A farm id that does not exist."""

    code = "unknown_farm"


class UnknownNode(InvalidTransaction):
    """A node id that does not exist."""

    code = "unknown_node"


class NotOwner(InvalidTransaction):
    """Sent by another key than the farm's owner or the node's own key."""

    code = "not_owner"


class WrongEpoch(InvalidTransaction):
    """A farming proof for another epoch than the current one."""

    code = "wrong_epoch"


class LateAnswer(InvalidTransaction):
    """A farming answer after its deadline."""

    code = "late"


class AlreadyDone(InvalidTransaction):
    """A farming step already taken this epoch (a second heartbeat in its slot, say)."""

    code = "already_done"


class InvalidSpec(RuleViolation):
    """A workload spec the chain cannot place or run: a field is missing, mistyped or out of
    range (`errors` maps fields to messages when the edge's schema found them)."""

    code = "invalid_spec"

    def __init__(self, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class UnknownDeployment(InvalidTransaction):
    """The transaction names a deployment, version or replica the chain does not hold."""

    code = "unknown_deployment"


class NodeInUse(InvalidTransaction):
    """A farmer tried to remove a node that still holds replicas or gateway names."""

    code = "node_in_use"


class NotPlacedHere(InvalidTransaction):
    """A node reported on a replica that is not placed on it."""

    code = "not_placed_here"


class NotDeployed(InvalidTransaction):
    """A bill for a replica that is not running (not yet deployed, failed, or paused)."""

    code = "not_deployed"
