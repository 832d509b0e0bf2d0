"""Named errors of the chain rules: every check raises one of these with a message."""


class ChainError(Exception):
    """Base of every rule violation; `code` is the stable machine-readable name."""

    code = "invalid"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EncodingError(ChainError):
    code = "malformed_encoding"


class InvalidAddress(ChainError):
    code = "invalid_address"


class InvalidSignature(ChainError):
    code = "bad_signature"


class WrongChain(ChainError):
    code = "wrong_chain"


class StaleNonce(ChainError):
    code = "stale_nonce"


class FutureNonce(ChainError):
    code = "future_nonce"


class InsufficientBalance(ChainError):
    code = "insufficient_balance"


class FeeTooLow(ChainError):
    code = "fee_too_low"


class InvalidTransaction(ChainError):
    code = "invalid_transaction"


class InvalidPolicy(ChainError):
    code = "invalid_policy"


class PolicyNotSatisfied(ChainError):
    code = "policy_not_satisfied"


class UnknownAccount(ChainError):
    code = "unknown_account"


class InvalidBlock(ChainError):
    code = "invalid_block"


class InvalidProof(ChainError):
    code = "invalid_proof"


class StoreError(ChainError):
    code = "store_error"


class InvalidEvidence(ChainError):
    code = "invalid_evidence"


class NotJailed(ChainError):
    code = "not_jailed"


class StillJailed(ChainError):
    code = "still_jailed"


class Tombstoned(ChainError):
    code = "tombstoned"


class InvalidParams(ChainError):
    code = "invalid_params"


# Farming (chain/farming.py)


class UnknownFarm(ChainError):
    code = "unknown_farm"


class UnknownNode(ChainError):
    code = "unknown_node"


class NotOwner(ChainError):
    code = "not_owner"


class WrongEpoch(ChainError):
    code = "wrong_epoch"


class LateAnswer(ChainError):
    code = "late"


class AlreadyDone(ChainError):
    code = "already_done"
