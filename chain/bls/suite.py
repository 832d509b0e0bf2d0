"""The ciphersuite both backends implement, the interface they share, and KeyGen.

BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_ (IETF draft-irtf-cfrg-bls-signature, the suite of
Ethereum's consensus layer): public keys are G1 points (48 bytes compressed), signatures G2
points (96 bytes compressed), messages are hashed to G2 with SSWU and SHA-256, and rogue-key
attacks on aggregates are stopped by a proof of possession signed under its own tag.

KeyGen is written here once, with hashlib and hmac only, so the fast path never imports the
reference library; tests check it against py_ecc's KeyGen.
"""

import hashlib
import hmac
from collections.abc import Sequence
from typing import Protocol

SIGNATURE_DST = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
POP_DST = b"BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
PUBLIC_KEY_SIZE = 48
SIGNATURE_SIZE = 96
SECRET_SIZE = 32
MIN_IKM_SIZE = 32
# r, the order of G1 and G2: secret keys are the integers 1..r-1.
CURVE_ORDER = 0x73EDA753299D7D483339D80809A1D80553BDA402FFFE5BFEFFFFFFFF00000001
_KEYGEN_SALT = b"BLS-SIG-KEYGEN-SALT-"
_KEYGEN_OKM_SIZE = 48  # ceil(3 * ceil(log2(r)) / 16): 128 extra bits make the reduction uniform


class Backend(Protocol):
    """The curve work of the ciphersuite. Shapes (lengths, empty lists) are checked before a
    backend is called; everything else, including refusing identity keys and points outside
    the subgroup, each backend does itself, so each one alone is a safe verifier."""

    @property
    def name(self) -> str: ...

    def public_key(self, secret: int) -> bytes:
        """SkToPk."""
        ...

    def sign(self, secret: int, message: bytes) -> bytes:
        """Sign: the message hashed to G2 under SIGNATURE_DST, times the secret."""
        ...

    def prove_possession(self, secret: int) -> bytes:
        """PopProve: the public key signed under POP_DST."""
        ...

    def key_valid(self, public_key: bytes) -> bool:
        """KeyValidate: a canonical encoding of a non-identity point of G1."""
        ...

    def signature_valid(self, signature: bytes) -> bool:
        """A canonical encoding of a point of G2's subgroup (the identity included)."""
        ...

    def verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool: ...

    def verify_possession(self, public_key: bytes, proof: bytes) -> bool:
        """PopVerify."""
        ...

    def aggregate(self, signatures: Sequence[bytes]) -> bytes:
        """The sum of one or more signatures that signature_valid accepts (it raises
        ValueError for one it refuses)."""
        ...

    def fast_aggregate_verify(
        self, public_keys: Sequence[bytes], message: bytes, signature: bytes
    ) -> bool:
        """Verify against the sum of the keys (at least one); false if that sum is the
        identity, as KeyValidate of the aggregate key says."""
        ...


def keygen_secret(ikm: bytes) -> int:
    """IETF KeyGen (draft 04 and later) with an empty key_info: HKDF-SHA256 over the input
    keying material, reduced mod r, rehashing the salt in the (negligible) case of zero."""
    salt = _KEYGEN_SALT
    secret = 0
    while secret == 0:
        salt = hashlib.sha256(salt).digest()
        prk = hmac.digest(salt, ikm + b"\x00", "sha256")
        okm = _hkdf_expand(prk, _KEYGEN_OKM_SIZE.to_bytes(2, "big"), _KEYGEN_OKM_SIZE)
        secret = int.from_bytes(okm, "big") % CURVE_ORDER
    return secret


def _hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand (RFC 5869) with SHA-256."""
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.digest(prk, block + info + bytes([counter]), "sha256")
        okm += block
        counter += 1
    return okm[:length]
