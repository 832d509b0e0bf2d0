"""ed25519 keys (libsodium via PyNaCl) and the passphrase-encrypted key file format.

A key is its 32-byte seed; the public key and addresses are derived from it. Key files are
encrypted with a key stretched from the passphrase by argon2id (libsodium's pwhash), so a stolen
key file is only as weak as its passphrase.
"""

from dataclasses import dataclass, field
from typing import Any

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.signing
import nacl.utils

from chain.errors import InvalidSignature, LocalFault

SEED_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
KEYFILE_VERSION = 1
MAX_KDF_MEMORY = 1 << 30  # a tampered key file must not make us allocate without bound


class KeyFileError(LocalFault):
    code = "bad_key_file"


class WrongPassphrase(KeyFileError):
    code = "wrong_passphrase"


@dataclass(frozen=True)
class KeyPair:
    """A signing key; `public_key` is what goes on chain."""

    seed: bytes = field(repr=False)
    public_key: bytes

    def sign(self, message: bytes) -> bytes:
        return bytes(nacl.signing.SigningKey(self.seed).sign(message).signature)


def keypair_from_seed(seed: bytes) -> KeyPair:
    if len(seed) != SEED_SIZE:
        raise KeyFileError(f"a seed is {SEED_SIZE} bytes, got {len(seed)}")
    public = bytes(nacl.signing.SigningKey(seed).verify_key)
    return KeyPair(seed=seed, public_key=public)


def generate_keypair() -> KeyPair:
    return keypair_from_seed(nacl.utils.random(SEED_SIZE))


def verify_signature(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """True iff `signature` is a valid ed25519 signature of `message` by `public_key`."""
    if len(public_key) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def require_signature(public_key: bytes, message: bytes, signature: bytes) -> None:
    if not verify_signature(public_key, message, signature):
        raise InvalidSignature(f"signature by {public_key.hex()} does not verify")


def encrypt_seed(
    seed: bytes,
    passphrase: str,
    opslimit: int = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE,
    memlimit: int = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE,
) -> dict[str, Any]:
    """The JSON-ready key file body for `seed`, sealed under `passphrase`."""
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    box_key = nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt, opslimit, memlimit
    )
    sealed = nacl.secret.SecretBox(box_key).encrypt(seed)
    return {
        "version": KEYFILE_VERSION,
        "kdf": "argon2id",
        "opslimit": opslimit,
        "memlimit": memlimit,
        "salt": salt.hex(),
        "ciphertext": bytes(sealed).hex(),
        "public_key": keypair_from_seed(seed).public_key.hex(),
    }


def decrypt_seed(keyfile: dict[str, Any], passphrase: str) -> bytes:
    """Recover the seed; raises WrongPassphrase or KeyFileError, never returns a wrong key."""
    try:
        if keyfile["version"] != KEYFILE_VERSION:
            raise KeyFileError(f"unsupported key file version {keyfile['version']!r}")
        if keyfile["kdf"] != "argon2id":
            raise KeyFileError(f"unsupported key derivation {keyfile['kdf']!r}")
        salt = bytes.fromhex(keyfile["salt"])
        sealed = bytes.fromhex(keyfile["ciphertext"])
        opslimit, memlimit = int(keyfile["opslimit"]), int(keyfile["memlimit"])
        if opslimit > nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE or memlimit > MAX_KDF_MEMORY:
            raise KeyFileError("key file asks for more key-derivation work than allowed")
        expected_public = bytes.fromhex(keyfile["public_key"])
    except (KeyError, TypeError, ValueError) as exc:
        raise KeyFileError(f"key file is malformed: {exc}") from None
    try:
        box_key = nacl.pwhash.argon2id.kdf(
            nacl.secret.SecretBox.KEY_SIZE, passphrase.encode(), salt, opslimit, memlimit
        )
    except (ValueError, TypeError, nacl.exceptions.CryptoError) as exc:
        raise KeyFileError(f"key file has bad key-derivation parameters: {exc}") from None
    try:
        seed = bytes(nacl.secret.SecretBox(box_key).decrypt(sealed))
    except nacl.exceptions.CryptoError:
        raise WrongPassphrase("wrong passphrase for this key file") from None
    if keypair_from_seed(seed).public_key != expected_public:
        raise KeyFileError("key file's public key does not match its secret")
    return seed
