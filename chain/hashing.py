"""The one hash function of the chain: blake2b with a 32-byte digest."""

import hashlib

HASH_SIZE = 32
ZERO_HASH = b"\x00" * HASH_SIZE


def hash32(data: bytes) -> bytes:
    """blake2b-256 of `data`, the hash behind every id and root."""
    return hashlib.blake2b(data, digest_size=HASH_SIZE).digest()


def tagged_hash(tag: bytes, data: bytes) -> bytes:
    """Domain-separated hash, so bytes signed or hashed for one purpose never match another."""
    return hashlib.blake2b(data, digest_size=HASH_SIZE, person=tag[:16].ljust(16, b"\x00")).digest()
