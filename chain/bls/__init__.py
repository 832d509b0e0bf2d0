"""BLS12-381 signatures for finality certificates (proof-of-possession ciphersuite).

One aggregate signature and a signer bitmap prove that validators holding more than 2/3 of the
stake precommitted a block, checked with one FastAggregateVerify instead of one ed25519 verify
per validator. Validator votes and transactions stay ed25519 (`chain.keys`); BLS is only for
what is aggregated.

Aggregating same-message signatures is safe only against keys whose holders proved they know
the secret: otherwise a rogue key (g^a minus the honest keys) lets one signer forge the whole
set's aggregate. So every key registered with the chain comes with `prove_possession`, checked
by `verify_possession`, and `key_validate` refuses malformed encodings, the identity point and
points outside the subgroup.

Every function takes the fast backend by default (py_arkworks_bls12381, `chain.bls.fast`); the
reference (py_ecc, `chain.bls.reference`) gives byte-identical keys, signatures and aggregates
and identical verdicts, and is there for tests and benchmarks. Keys are stored as their 32-byte
secret scalar: KeyGen from a seed differs between libraries, the scalar does not.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from chain.bls.fast import FAST
from chain.bls.suite import (
    CURVE_ORDER,
    MIN_IKM_SIZE,
    PUBLIC_KEY_SIZE,
    SECRET_SIZE,
    SIGNATURE_SIZE,
    Backend,
    keygen_secret,
)
from chain.errors import InvalidBlsKey, InvalidSignature, LocalFault

__all__ = [
    "FAST",
    "PUBLIC_KEY_SIZE",
    "SECRET_SIZE",
    "SIGNATURE_SIZE",
    "Backend",
    "BadBlsSecret",
    "BlsKey",
    "aggregate",
    "bls_key_from_secret",
    "bls_keygen",
    "fast_aggregate_verify",
    "key_validate",
    "prove_possession",
    "sign",
    "verify",
    "verify_possession",
]


class BadBlsSecret(LocalFault):
    """Too little keying material, or a stored secret that is not a scalar in 1..r-1: a fault
    of this machine's key, never of anything received."""

    code = "bad_bls_secret"


@dataclass(frozen=True)
class BlsKey:
    """A BLS signing key: `secret` is the scalar, 32 bytes big-endian (what a key file
    stores); `public_key` is the 48-byte compressed G1 point that goes on chain."""

    secret: bytes = field(repr=False)
    public_key: bytes


def bls_keygen(ikm: bytes, backend: Backend = FAST) -> BlsKey:
    """The IETF KeyGen key for `ikm` (at least 32 bytes of secret randomness): deterministic,
    so a seed kept elsewhere restores the key."""
    if len(ikm) < MIN_IKM_SIZE:
        raise BadBlsSecret(f"BLS KeyGen needs at least {MIN_IKM_SIZE} bytes, got {len(ikm)}")
    return _key(keygen_secret(ikm), backend)


def bls_key_from_secret(secret: bytes, backend: Backend = FAST) -> BlsKey:
    """The key whose secret scalar is `secret` (32 bytes big-endian, as `BlsKey.secret`)."""
    value = int.from_bytes(secret, "big")
    if len(secret) != SECRET_SIZE or not 0 < value < CURVE_ORDER:
        raise BadBlsSecret(f"a BLS secret is a {SECRET_SIZE}-byte scalar in 1..r-1")
    return _key(value, backend)


def sign(key: BlsKey, message: bytes, backend: Backend = FAST) -> bytes:
    """The 96-byte signature of `message`."""
    return backend.sign(_scalar(key), message)


def prove_possession(key: BlsKey, backend: Backend = FAST) -> bytes:
    """PopProve: the key's own public key signed under the proof-of-possession tag, which no
    ordinary signature can stand in for."""
    return backend.prove_possession(_scalar(key))


def verify(public_key: bytes, message: bytes, signature: bytes, backend: Backend = FAST) -> bool:
    """True iff `signature` is `public_key`'s signature of `message` and the key is valid."""
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    return backend.verify(public_key, message, signature)


def verify_possession(public_key: bytes, proof: bytes, backend: Backend = FAST) -> bool:
    """PopVerify: true iff `proof` shows that the holder of `public_key` knows its secret."""
    if len(public_key) != PUBLIC_KEY_SIZE or len(proof) != SIGNATURE_SIZE:
        return False
    return backend.verify_possession(public_key, proof)


def aggregate(signatures: Sequence[bytes], backend: Backend = FAST) -> bytes:
    """The aggregate of one or more signatures. Raises InvalidSignature for none, or for one
    that is malformed or outside the subgroup (py_ecc's own Aggregate skips that check)."""
    if not signatures:
        raise InvalidSignature("no signatures to aggregate")
    if any(len(signature) != SIGNATURE_SIZE for signature in signatures):
        raise InvalidSignature(f"a BLS signature is {SIGNATURE_SIZE} bytes")
    try:
        return backend.aggregate(signatures)
    except ValueError:
        raise InvalidSignature("a signature to aggregate is not a valid BLS signature") from None


def fast_aggregate_verify(
    public_keys: Sequence[bytes], message: bytes, signature: bytes, backend: Backend = FAST
) -> bool:
    """True iff `signature` aggregates signatures of `message` by all of `public_keys` (one or
    more, each valid). Sound only for keys whose possession was proven."""
    if not public_keys or len(signature) != SIGNATURE_SIZE:
        return False
    if any(len(public_key) != PUBLIC_KEY_SIZE for public_key in public_keys):
        return False
    return backend.fast_aggregate_verify(public_keys, message, signature)


def key_validate(public_key: bytes, backend: Backend = FAST) -> None:
    """KeyValidate: raises InvalidBlsKey unless `public_key` canonically encodes a point of
    the prime-order subgroup of G1 other than the identity."""
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise InvalidBlsKey(f"a BLS public key is {PUBLIC_KEY_SIZE} bytes, got {len(public_key)}")
    if not backend.key_valid(public_key):
        raise InvalidBlsKey(f"{public_key.hex()} is not a valid BLS public key")


def _key(secret: int, backend: Backend) -> BlsKey:
    return BlsKey(secret.to_bytes(SECRET_SIZE, "big"), backend.public_key(secret))


def _scalar(key: BlsKey) -> int:
    return int.from_bytes(key.secret, "big")
