"""The reference backend: py_ecc's G2ProofOfPossession, pure Python.

It is what the IETF draft's and Ethereum's reference code ran for years, and every call here
is the library's own ciphersuite API (KeyValidate, Sign, Verify, PopProve, PopVerify,
Aggregate, FastAggregateVerify), not a composition of its internals: the fast backend is
tested against it byte for byte and verdict for verdict. Far too slow for the hot path (~110 ms
a sign, ~330 ms a verify); imported by tests and `gridchain bench bls` only.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from eth_typing import BLSPubkey, BLSSignature
from eth_utils.exceptions import ValidationError
from py_ecc.bls.ciphersuites import G2ProofOfPossession as Suite
from py_ecc.bls.g2_primitives import signature_to_G2, subgroup_check

_DECODE_ERRORS = (ValidationError, ValueError, AssertionError)


@dataclass(frozen=True)
class PyEccBackend:
    """py_ecc.bls.G2ProofOfPossession."""

    name: str = "py_ecc"

    def public_key(self, secret: int) -> bytes:
        return bytes(Suite.SkToPk(secret))

    def sign(self, secret: int, message: bytes) -> bytes:
        return bytes(Suite.Sign(secret, message))

    def prove_possession(self, secret: int) -> bytes:
        return bytes(Suite.PopProve(secret))

    def key_valid(self, public_key: bytes) -> bool:
        return Suite.KeyValidate(BLSPubkey(public_key))

    def signature_valid(self, signature: bytes) -> bool:
        """py_ecc's Aggregate decodes without a subgroup check; ours refuses such points."""
        try:
            return subgroup_check(signature_to_G2(BLSSignature(signature)))
        except _DECODE_ERRORS:
            return False

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        return Suite.Verify(BLSPubkey(public_key), message, BLSSignature(signature))

    def verify_possession(self, public_key: bytes, proof: bytes) -> bool:
        return Suite.PopVerify(BLSPubkey(public_key), BLSSignature(proof))

    def aggregate(self, signatures: Sequence[bytes]) -> bytes:
        if not all(self.signature_valid(s) for s in signatures):
            raise ValueError("aggregate of an invalid signature")
        return bytes(Suite.Aggregate([BLSSignature(s) for s in signatures]))

    def fast_aggregate_verify(
        self, public_keys: Sequence[bytes], message: bytes, signature: bytes
    ) -> bool:
        keys = [BLSPubkey(k) for k in public_keys]
        return Suite.FastAggregateVerify(keys, message, BLSSignature(signature))


REFERENCE = PyEccBackend()
