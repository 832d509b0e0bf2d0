"""A light block: what a light client needs of one height, and its canonical bytes.

A header, the validator set that signed it (the one its validators_hash names) and the
certificate that finalized it. Nothing in it needs trust: the set hashes to a field of the
header, and the certificate is checked against the set (chain/light/verify.py).
"""

from dataclasses import dataclass
from typing import Any

from chain.blocks.commit import Commit, commit_from_value, commit_to_value
from chain.blocks.header import Header, header_from_value, header_to_value
from chain.encoding import decode, encode, expect_list, expect_map
from chain.errors import EncodingError, StoreError
from chain.staking.validators import (
    ValidatorSet,
    validator_set_from_value,
    validator_set_to_value,
)
from chain.store import ChainReads

MAX_LIGHT_BLOCK_SIZE = 64 * 1024  # a header, a certificate and 256 validators fit well within


@dataclass(frozen=True)
class LightBlock:
    header: Header
    validators: ValidatorSet  # the set that signed this header
    commit: Commit | None  # None only for a trust root (genesis), which nothing signs

    @property
    def height(self) -> int:
        return self.header.height


def light_block_to_value(block: LightBlock) -> dict[str, Any]:
    return {
        "header": header_to_value(block.header),
        "validators": validator_set_to_value(block.validators),
        "commit": [] if block.commit is None else [commit_to_value(block.commit)],
    }


def encode_light_block(block: LightBlock) -> bytes:
    return encode(light_block_to_value(block))


def light_block_from_value(value: Any) -> LightBlock:
    f = expect_map(value, "light block", ("header", "validators", "commit"))
    header = header_from_value(f["header"])
    commits = expect_list(f["commit"], "light block commit", 1)
    if (len(commits) == 0) != (header.height == 0):
        raise EncodingError("a light block carries one certificate, except at genesis")
    return LightBlock(
        header,
        validator_set_from_value(f["validators"]),
        commit_from_value(commits[0]) if commits else None,
    )


def decode_light_block(data: bytes) -> LightBlock:
    """Parse a light block from outside (a node, a bundle); raises EncodingError."""
    return light_block_from_value(decode(data, MAX_LIGHT_BLOCK_SIZE))


def light_block_at(reader: ChainReads, height: int) -> LightBlock | None:
    """The light block of a stored height: its header, the set that signed it (kept by its
    hash), and the certificate the store keeps with it (at genesis, none)."""
    block = reader.block_at(height)
    if block is None:
        return None
    header = block.header
    validators = reader.validator_set(header.validators_hash)
    if validators is None:
        raise StoreError(
            f"the validator set {header.validators_hash.hex()} of height {height} is missing"
        )
    commit = None if height == 0 else reader.commit_at(height)
    if height > 0 and commit is None:
        raise StoreError(f"the certificate of height {height} is missing")
    return LightBlock(header, validators, commit)
