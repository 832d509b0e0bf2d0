"""The fast backend: BLS verification built from py_arkworks_bls12381's primitives (Rust).

The library gives points, hash_to_curve and a pairing check, not the signature scheme, so the
scheme is assembled here, and every decode goes through one of two functions that close the
gaps its decoders leave:

- `from_compressed_bytes` (the checked decoder) tests the curve and the subgroup, but accepts
  non-canonical encodings: the infinity flag with x bits set (c123..., c010...) or with the
  sort flag (e0...) all decode to the identity. Re-encoding the point and comparing bytes
  refuses every such alias, as py_ecc and the Ethereum test vectors do.
- It accepts the identity. A pairing check accepts the identity key with the identity
  signature for ANY message, so public keys that are the identity are refused.

Decoded public keys are cached (bounded LRU keyed by the 48 bytes): a certificate checks the
same validators' keys at every height, and a decode with its subgroup check costs more than
adding the point into the aggregate key.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from py_arkworks_bls12381 import GT, G1Point, G2Point, Scalar

from chain.bls.suite import POP_DST, SIGNATURE_DST

PUBLIC_KEY_CACHE_SIZE = 4096
_G1_GENERATOR = G1Point()
_NEG_G1_GENERATOR = -_G1_GENERATOR
_G1_IDENTITY = G1Point.identity()


@lru_cache(maxsize=PUBLIC_KEY_CACHE_SIZE)
def public_key_point(public_key: bytes) -> G1Point | None:
    """The G1 point of a valid public key (canonical, in the subgroup, not the identity), or
    None. Cached: points are immutable, and an invalid key stays invalid."""
    try:
        point = G1Point.from_compressed_bytes(public_key)
    except ValueError:
        return None
    if point == _G1_IDENTITY or point.to_compressed_bytes() != public_key:
        return None
    return point


def signature_point(signature: bytes) -> G2Point | None:
    """The G2 point of a canonical encoding of a subgroup point (the identity included), or
    None. Not cached: a signature is checked once."""
    try:
        point = G2Point.from_compressed_bytes(signature)
    except ValueError:
        return None
    return point if point.to_compressed_bytes() == signature else None


def _core_sign(secret: int, message: bytes, dst: bytes) -> bytes:
    return (G2Point.hash_to_curve(message, dst) * Scalar(secret)).to_compressed_bytes()


def _core_verify(key: G1Point, message: bytes, signature: bytes, dst: bytes) -> bool:
    """e(key, H(message)) == e(g1, signature), as one product of two pairings equal to 1."""
    point = signature_point(signature)
    if point is None:
        return False
    hashed = G2Point.hash_to_curve(message, dst)
    return GT.pairing_check([key, _NEG_G1_GENERATOR], [hashed, point])


@dataclass(frozen=True)
class ArkworksBackend:
    """py_arkworks_bls12381: ~1-2 ms a verify (see `gridchain bench bls`)."""

    name: str = "arkworks"

    def public_key(self, secret: int) -> bytes:
        return (_G1_GENERATOR * Scalar(secret)).to_compressed_bytes()

    def sign(self, secret: int, message: bytes) -> bytes:
        return _core_sign(secret, message, SIGNATURE_DST)

    def prove_possession(self, secret: int) -> bytes:
        return _core_sign(secret, self.public_key(secret), POP_DST)

    def key_valid(self, public_key: bytes) -> bool:
        return public_key_point(public_key) is not None

    def signature_valid(self, signature: bytes) -> bool:
        return signature_point(signature) is not None

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        key = public_key_point(public_key)
        return key is not None and _core_verify(key, message, signature, SIGNATURE_DST)

    def verify_possession(self, public_key: bytes, proof: bytes) -> bool:
        key = public_key_point(public_key)
        return key is not None and _core_verify(key, public_key, proof, POP_DST)

    def aggregate(self, signatures: Sequence[bytes]) -> bytes:
        total = G2Point.identity()
        for signature in signatures:
            point = signature_point(signature)
            if point is None:
                raise ValueError("aggregate of an invalid signature")
            total = total + point
        return total.to_compressed_bytes()

    def fast_aggregate_verify(
        self, public_keys: Sequence[bytes], message: bytes, signature: bytes
    ) -> bool:
        total = _G1_IDENTITY
        for public_key in public_keys:
            key = public_key_point(public_key)
            if key is None:
                return False
            total = total + key
        if total == _G1_IDENTITY:  # keys that cancel (pk and -pk): KeyValidate refuses the sum
            return False
        return _core_verify(total, message, signature, SIGNATURE_DST)


FAST = ArkworksBackend()
