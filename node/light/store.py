"""What a light client trusts, on disk: the light blocks it verified, by height, in LevelDB.

The first is the trust root, made from the genesis file (`init`); each one after was verified
from one below it (chain/light/verify.py), so everything here traces back to genesis. A block
is written in one synced write once verified, so a killed client keeps what it had and nothing
half-checked.

Key layout: G -> the genesis hash this home follows; H height(8, BE) -> light block bytes.
"""

from pathlib import Path

import plyvel

from chain.errors import CorruptRecord, LocalFault, RuleViolation
from chain.light.blocks import LightBlock, decode_light_block, encode_light_block

GENESIS_KEY = b"G"


class LightStoreError(LocalFault):
    code = "light_store"


def _height_key(height: int) -> bytes:
    return b"H" + height.to_bytes(8, "big")


class LightStore:
    def __init__(self, path: Path) -> None:
        try:
            self._db = plyvel.DB(str(path), create_if_missing=True)
        except plyvel.Error as exc:
            raise LightStoreError(
                f"cannot open the light client's database {path}: {exc}"
            ) from None
        self.path = path

    def close(self) -> None:
        self._db.close()

    def genesis_hash(self) -> bytes | None:
        raw: bytes | None = self._db.get(GENESIS_KEY)
        return raw

    def initialize(self, genesis_hash: bytes, root: LightBlock) -> None:
        """Make `root` (height 0, from the genesis file) the trust root of an empty store."""
        existing = self.genesis_hash()
        if existing is not None and existing != genesis_hash:
            raise LightStoreError(
                f"{self.path} follows genesis {existing.hex()}, not {genesis_hash.hex()}"
            )
        with self._db.write_batch(transaction=True, sync=True) as batch:
            batch.put(GENESIS_KEY, genesis_hash)
            batch.put(_height_key(root.height), encode_light_block(root))

    def put(self, block: LightBlock) -> None:
        """Keep a verified block (synced: what the client reported verified stays)."""
        self._db.put(_height_key(block.height), encode_light_block(block), sync=True)

    def get(self, height: int) -> LightBlock | None:
        raw = self._db.get(_height_key(height))
        return None if raw is None else self._decode(raw, height)

    def highest_at_or_below(self, height: int) -> LightBlock:
        """The highest verified block at or below `height` (the trust root at least)."""
        with self._db.iterator(
            start=b"H", stop=_height_key(height) + b"\x00", reverse=True, include_value=True
        ) as it:
            for key, raw in it:
                return self._decode(raw, int.from_bytes(key[1:], "big"))
        raise LightStoreError(f"{self.path} has no trust root: run `gridchain light init`")

    def latest(self) -> LightBlock:
        return self.highest_at_or_below(2**63 - 1)

    def heights(self) -> list[int]:
        with self._db.iterator(prefix=b"H", include_value=False) as it:
            return [int.from_bytes(key[1:], "big") for key in it]

    def _decode(self, raw: bytes, height: int) -> LightBlock:
        try:
            return decode_light_block(raw)
        except RuleViolation as exc:
            raise CorruptRecord(
                f"the light block of height {height} in {self.path} is corrupt: {exc.message}"
            ) from None
