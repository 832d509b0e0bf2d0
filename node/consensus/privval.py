"""The validator's signer: signs votes and proposals and never signs two conflicting messages,
even across crashes (after cometbft's privval/file.go).

The rule is consensus.double_sign.check_sign; this module keeps its state on disk. A new
signature is persisted durably (temporary file, fsync, rename, fsync of the directory) before it
is returned, so a signature that left this process is always in the state file a restarted node
reads. A missing state file means nothing was signed yet; a state file that cannot be read is an
error, never a reason to start afresh, since starting afresh is how a validator double-signs.
"""

import threading
from pathlib import Path

from chain import bls
from chain.blocks.commit import VoteType, vote_sign_bytes
from chain.blocks.votes import SignedProposal, SignedVote, certifies, proposal_sign_bytes
from chain.errors import LocalFault, RuleViolation
from chain.keys import KeyPair, verify_signature
from chain.staking.validators import validator_bls_key
from consensus.double_sign import (
    LastSigned,
    SignStep,
    check_sign,
    decode_last_signed,
    encode_last_signed,
    vote_step,
)
from node.config import write_file_atomically


class PrivValidatorStateError(LocalFault):
    code = "bad_privval_state"


def load_last_signed(path: Path, public_key: bytes) -> LastSigned | None:
    """The state at `path`: None if the file does not exist; raises PrivValidatorStateError if
    it cannot be read, does not decode, or holds a signature that is not by `public_key`."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PrivValidatorStateError(f"cannot read signer state {path}: {exc}") from None
    try:
        last = decode_last_signed(data)
    except RuleViolation as exc:
        raise PrivValidatorStateError(
            f"signer state {path} is corrupt ({exc.message}); refusing to sign until it is "
            "restored, because starting afresh could double-sign"
        ) from None
    if not verify_signature(public_key, last.sign_bytes, last.signature):
        raise PrivValidatorStateError(
            f"signer state {path} holds a signature that is not by {public_key.hex()}: "
            "it belongs to another key or was altered"
        )
    return last


class PrivValidator:
    """Signs for one key, keeping its last signed position in `state_path`."""

    def __init__(self, key: KeyPair, state_path: Path) -> None:
        self.key = key
        self.bls_key = validator_bls_key(key)
        self.state_path = state_path
        self._lock = threading.Lock()
        self._last = load_last_signed(state_path, key.public_key)

    @property
    def last_signed(self) -> LastSigned | None:
        return self._last

    def sign_vote(
        self, chain_id: str, vote_type: VoteType, height: int, round_: int, block_hash: bytes
    ) -> SignedVote:
        message = vote_sign_bytes(chain_id, height, round_, vote_type, block_hash)
        signature = self._sign(height, round_, vote_step(vote_type), message)
        # The BLS signature needs no guard of its own: it signs the very bytes the ed25519
        # signature just cleared, and is deterministic, so a re-sign gives the same one.
        bls_signature = bls.sign(self.bls_key, message) if certifies(vote_type, block_hash) else b""
        return SignedVote(
            vote_type, height, round_, block_hash, self.key.public_key, signature, bls_signature
        )

    def sign_proposal(
        self, chain_id: str, height: int, round_: int, valid_round: int, block_hash: bytes
    ) -> SignedProposal:
        message = proposal_sign_bytes(chain_id, height, round_, valid_round, block_hash)
        signature = self._sign(height, round_, SignStep.PROPOSE, message)
        return SignedProposal(
            height, round_, valid_round, block_hash, self.key.public_key, signature
        )

    def _sign(self, height: int, round_: int, step: SignStep, message: bytes) -> bytes:
        with self._lock:
            earlier = check_sign(self._last, height, round_, step, message)
            if earlier is not None:
                return earlier
            last = LastSigned(height, round_, step, message, self.key.sign(message))
            write_file_atomically(self.state_path, encode_last_signed(last), mode=0o600)
            self._last = last
            return last.signature
