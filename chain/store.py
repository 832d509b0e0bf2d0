"""The chain's LevelDB: blocks, commits, transaction index, state records and tree nodes.

Key layout (one byte prefix per table):
  M head             -> canonical {height, hash, state_root} of the last committed block
  G                  -> the genesis hash this database was created for
  H height(8, BE)    -> block hash
  B block hash       -> block bytes
  C height(8, BE)    -> commit that finalized that block
  T tx id            -> [height, index]
  R tx id            -> receipt of a contract transaction (gas, status, return value, events)
  A index(8, BE)     -> audit log entry (canonical bytes)
  L level(1) index(8)-> audit log subtree hash over leaves [index * 2**level, (index+1) * 2**level)
  I contract(33) index(8) -> (empty): the entries a contract emitted
  Z size(8, BE)      -> height of the block whose header first committed that audit log size
  Maudit             -> audit log size
  S state key(32)    -> current record bytes
  V set hash(32)     -> a validator set's canonical bytes: every set the chain has had, named
                        as headers name it (validators_hash), for commits' signers and light
                        clients
  N node hash(32)    -> sparse Merkle tree node (content-addressed, never rewritten)
  Mbase              -> the first height this database holds a block of, when it was started
                        from a snapshot of that height (state sync); absent: genesis

Every block is written in ONE synced WriteBatch together with its state and tree nodes, so a
crash at any instant leaves either the previous block or this one, complete.
"""

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plyvel

from chain.blocks.block import Block, decode_block, encode_block, stored_block_header
from chain.blocks.commit import Commit, decode_commit, encode_commit
from chain.blocks.header import MAX_HEIGHT, Header
from chain.encoding import (
    decode,
    encode,
    expect_bytes,
    expect_int,
    expect_list,
    expect_map,
    stored_record,
)
from chain.errors import StoreError
from chain.ledger import audit
from chain.ledger.audit import AuditEntry, decode_entry
from chain.ledger.execution import Receipt, receipt_from_value, receipt_to_value
from chain.ledger.transactions import Call, Deploy
from chain.staking.validators import (
    ValidatorSet,
    decode_validator_set,
    encode_validator_set,
    encoded_set_hash,
)
from chain.state import LAST_VALIDATORS_KEY, VALIDATORS_KEY

HEAD_KEY = b"Mhead"
BASE_KEY = b"Mbase"
AUDIT_SIZE_KEY = b"Maudit"
MAX_AUDIT_RANGE = 1000
GENESIS_KEY = b"G"


@dataclass(frozen=True)
class Head:
    height: int
    block_hash: bytes
    state_root: bytes


def _height_key(prefix: bytes, height: int) -> bytes:
    return prefix + height.to_bytes(8, "big")


def _audit_node_key(level: int, index: int) -> bytes:
    return b"L" + bytes([level]) + index.to_bytes(8, "big")


class ChainReads:
    """Read API shared by the live database and its snapshots."""

    def __init__(self, source: Any) -> None:
        self._src = source

    @stored_record("head record")
    def head(self) -> Head | None:
        raw = self._src.get(HEAD_KEY)
        if raw is None:
            return None
        f = expect_map(decode(raw), "head", ("height", "hash", "state_root"))
        return Head(
            expect_int(f["height"], "head height"),
            expect_bytes(f["hash"], "head hash", 32),
            expect_bytes(f["state_root"], "head state root", 32),
        )

    def genesis_hash(self) -> bytes | None:
        raw: bytes | None = self._src.get(GENESIS_KEY)
        return raw

    def get_state(self, key: bytes) -> bytes | None:
        raw: bytes | None = self._src.get(b"S" + key)
        return raw

    def get_node(self, node_hash: bytes) -> bytes | None:
        raw: bytes | None = self._src.get(b"N" + node_hash)
        return raw

    def block_hash_at(self, height: int) -> bytes | None:
        raw: bytes | None = self._src.get(_height_key(b"H", height))
        return raw

    @stored_record("block")
    def block(self, block_hash: bytes) -> Block | None:
        raw = self._src.get(b"B" + block_hash)
        return None if raw is None else decode_block(raw)

    def block_bytes(self, block_hash: bytes) -> bytes | None:
        raw: bytes | None = self._src.get(b"B" + block_hash)
        return raw

    def block_at(self, height: int) -> Block | None:
        block_hash = self.block_hash_at(height)
        return None if block_hash is None else self.block(block_hash)

    @stored_record("block header")
    def header_at(self, height: int) -> Header | None:
        """The header of the block at `height`, its transactions left undecoded (a full block
        of transfers takes seconds to decode); None if not held, or no height at all."""
        if not 0 <= height <= MAX_HEIGHT:
            return None
        block_hash = self.block_hash_at(height)
        raw = None if block_hash is None else self.block_bytes(block_hash)
        return None if raw is None else stored_block_header(raw)

    @stored_record("commit")
    def commit_at(self, height: int) -> Commit | None:
        raw = self._src.get(_height_key(b"C", height))
        return None if raw is None else decode_commit(raw)

    @stored_record("validator set")
    def validator_set(self, set_hash: bytes) -> ValidatorSet | None:
        """The set with hash `set_hash`, if the chain has ever had it."""
        raw = self._src.get(b"V" + set_hash)
        return None if raw is None else decode_validator_set(raw)

    def state_items(self) -> Iterator[tuple[bytes, bytes]]:
        """Every current state record, in key order."""
        for key, value in self._src.iterator(prefix=b"S"):
            yield key[1:], value

    def state_count(self) -> int:
        return sum(1 for _ in self._src.iterator(prefix=b"S", include_value=False))

    @stored_record("base height")
    def base_height(self) -> int:
        """The first height held: 0, or the snapshot's height for a node that state-synced
        (blocks, receipts and audit entries before it are not held)."""
        raw = self._src.get(BASE_KEY)
        return 0 if raw is None else expect_int(decode(raw), "base height")

    # Audit log

    @stored_record("audit size")
    def audit_size(self) -> int:
        raw = self._src.get(AUDIT_SIZE_KEY)
        return 0 if raw is None else expect_int(decode(raw), "audit size")

    def audit_node(self, level: int, index: int) -> bytes:
        raw: bytes | None = self._src.get(_audit_node_key(level, index))
        if raw is None:
            raise StoreError(f"audit subtree ({level}, {index}) is missing")
        return raw

    @stored_record("audit entry")
    def audit_entry(self, index: int) -> AuditEntry | None:
        raw = self._src.get(_height_key(b"A", index))
        return None if raw is None else decode_entry(raw)

    def audit_entries(self, start: int, end: int) -> list[AuditEntry]:
        """Entries [start, end), at most MAX_AUDIT_RANGE of them."""
        end = min(end, start + MAX_AUDIT_RANGE, self.audit_size())
        found = [self.audit_entry(i) for i in range(start, end)]
        return [e for e in found if e is not None]

    def audit_indexes_by_contract(self, contract: bytes, start: int, limit: int) -> list[int]:
        """Positions of the entries `contract` emitted, from position `start` on."""
        prefix = b"I" + contract
        limit = min(limit, MAX_AUDIT_RANGE)
        found = []
        first = prefix + start.to_bytes(8, "big")
        for key in self._src.iterator(start=first, stop=prefix + b"\xff" * 9, include_value=False):
            found.append(int.from_bytes(key[len(prefix) :], "big"))
            if len(found) >= limit:
                break
        return found

    def audit_inclusion_proof(self, index: int, size: int) -> list[bytes]:
        self._check_audit_size(size)
        return audit.inclusion_proof(self.audit_node, index, size)

    def audit_consistency_proof(self, first: int, second: int) -> list[bytes]:
        self._check_audit_size(second)
        return audit.consistency_proof(self.audit_node, first, second)

    def _check_audit_size(self, size: int) -> None:
        if size > self.audit_size():
            raise StoreError(f"the audit log has {self.audit_size()} entries, not {size}")

    @stored_record("audit size index")
    def header_with_audit_size(self, size: int) -> Block | None:
        """The block whose header first committed to a log of exactly `size` entries, if any."""
        raw = self._src.get(_height_key(b"Z", size))
        return None if raw is None else self.block_at(expect_int(decode(raw), "height"))

    @stored_record("receipt")
    def receipt(self, tx_id: bytes) -> Receipt | None:
        """The stored receipt of a contract transaction (others have none stored)."""
        raw = self._src.get(b"R" + tx_id)
        return None if raw is None else receipt_from_value(tx_id, decode(raw))

    @stored_record("transaction location")
    def tx_location(self, tx_id: bytes) -> tuple[int, int] | None:
        raw = self._src.get(b"T" + tx_id)
        if raw is None:
            return None
        height, index = expect_list(decode(raw), "tx location", 2)
        return int(height), int(index)


class Snapshot(ChainReads):
    """A consistent view: reads never mix two blocks, even while one is being committed."""

    def __init__(self, snapshot: Any) -> None:
        super().__init__(snapshot)
        self._snapshot = snapshot

    def close(self) -> None:
        self._snapshot.close()

    def __enter__(self) -> "Snapshot":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ChainStore(ChainReads):
    def __init__(self, path: str) -> None:
        try:
            self._db = plyvel.DB(path, create_if_missing=True, paranoid_checks=True)
        except plyvel.Error as exc:
            raise StoreError(f"cannot open the chain database at {path}: {exc}") from None
        super().__init__(self._db)
        self.path = path

    def close(self) -> None:
        self._db.close()

    @property
    def closed(self) -> bool:
        return bool(self._db.closed)

    def _append_audit(
        self, batch: Any, block: Block, entries: Sequence[AuditEntry], log: "_AuditLog"
    ) -> None:
        """Store the block's entries, refusing them unless they make the log its header says:
        a caller that dropped or changed an entry would serve wrong proofs from then on."""
        first = log.size
        header = block.header
        if first + len(entries) != header.audit_size:
            raise StoreError(
                f"block {block.height} commits to {header.audit_size} audit entries; the log "
                f"has {first} and {len(entries)} were given"
            )
        if not entries:
            if block.height == 0:
                batch.put(_height_key(b"Z", 0), encode(0))
            return
        leaves = [audit.entry_leaf(e) for e in entries]
        nodes = audit.complete_nodes(first, leaves, log.node)
        log.nodes.update(nodes)
        if audit.range_hash(log.node, 0, header.audit_size) != header.audit_root:
            raise StoreError(f"block {block.height}'s audit entries do not give its audit_root")
        for offset, entry in enumerate(entries):
            batch.put(_height_key(b"A", first + offset), audit.encode_entry(entry))
            batch.put(b"I" + entry.contract + (first + offset).to_bytes(8, "big"), b"")
        for (level, index), value in nodes.items():
            batch.put(_audit_node_key(level, index), value)
        log.size = header.audit_size
        batch.put(AUDIT_SIZE_KEY, encode(header.audit_size))
        batch.put(_height_key(b"Z", header.audit_size), encode(block.height))

    def snapshot(self) -> Snapshot:
        return Snapshot(self._db.snapshot())

    def put_restored_chunk(
        self, records: Sequence[tuple[bytes, bytes]], new_nodes: Mapping[bytes, bytes]
    ) -> None:
        """Write a checked chunk of a snapshot into a database being restored (not synced:
        `finish_restore` is, and a restore that did not finish is started again from empty)."""
        if self.head() is not None:
            raise StoreError("a snapshot is restored only into an empty database")
        with self._db.write_batch() as batch:
            for key, value in records:
                batch.put(b"S" + key, value)
            for node_hash, node in new_nodes.items():
                batch.put(b"N" + node_hash, node)

    def finish_restore(
        self,
        block: Block,
        commit: Commit,
        signers: ValidatorSet,
        genesis_hash: bytes,
        earlier: Mapping[int, bytes],
    ) -> None:
        """Make the restored state the one after `block`: the block and its commit, the hashes
        of `earlier` blocks (height -> hash: the proposer election reads them; their blocks are
        not held), the validator sets the rules and light clients look up by hash, the audit
        log's frontier (the subtrees the next entries are hashed with), the base height and the
        head, in one synced batch."""
        frontier_raw = self.get_state(audit.AUDIT_KEY)
        frontier = (
            audit.AuditFrontier() if frontier_raw is None else audit.decode_frontier(frontier_raw)
        )
        header = block.header
        if frontier.size != header.audit_size:
            raise StoreError(
                f"the restored audit log has {frontier.size} entries; block {block.height} "
                f"commits to {header.audit_size}"
            )
        with self._db.write_batch(transaction=True, sync=True) as batch:
            batch.put(GENESIS_KEY, genesis_hash)
            batch.put(b"B" + block.hash, encode_block(block))
            batch.put(_height_key(b"H", block.height), block.hash)
            batch.put(_height_key(b"C", block.height), encode_commit(commit))
            for index, tx in enumerate(block.txs):
                batch.put(b"T" + tx.id, encode([block.height, index]))
            for height, block_hash in sorted(earlier.items()):
                batch.put(_height_key(b"H", height), block_hash)
            for key in (VALIDATORS_KEY, LAST_VALIDATORS_KEY):
                encoded = self.get_state(key)
                if encoded is not None:
                    batch.put(b"V" + encoded_set_hash(encoded), encoded)
            signers_encoded = encode_validator_set(signers)
            batch.put(b"V" + encoded_set_hash(signers_encoded), signers_encoded)
            start = 0
            for level, peak in zip(audit.peak_levels(frontier.size), frontier.peaks, strict=True):
                batch.put(_audit_node_key(level, start >> level), peak)
                start += 1 << level
            batch.put(AUDIT_SIZE_KEY, encode(frontier.size))
            # The base block commits to that size (an earlier block may have first): proofs
            # of the log at that size are given against it.
            batch.put(_height_key(b"Z", frontier.size), encode(block.height))
            batch.put(BASE_KEY, encode(block.height))
            batch.put(
                HEAD_KEY,
                encode(
                    {"height": block.height, "hash": block.hash, "state_root": header.state_root}
                ),
            )

    def replace_commit(self, commit: Commit) -> None:
        """Store a larger commit for the head block (precommits gathered after the decision)."""
        head = self.head()
        if head is None or head.height != commit.height or head.block_hash != commit.block_hash:
            raise StoreError(f"commit for height {commit.height} is not for the stored head")
        # Not synced: after a crash the first commit, also valid, is there instead.
        self._db.put(_height_key(b"C", commit.height), encode_commit(commit))

    def commit_block(
        self,
        block: Block,
        commit: Commit | None,
        writes: Mapping[bytes, bytes | None],
        new_nodes: Mapping[bytes, bytes],
        genesis_hash: bytes | None = None,
        receipts: Sequence[Receipt] = (),
        audit_entries: Sequence[AuditEntry] = (),
    ) -> None:
        """Write the block, its commit, its state and tree nodes atomically and durably."""
        item = BlockWrite(block, commit, writes, new_nodes, receipts, audit_entries)
        self.commit_blocks([item], genesis_hash)

    def commit_blocks(
        self, items: Sequence["BlockWrite"], genesis_hash: bytes | None = None
    ) -> None:
        """Write blocks that follow one another, each with all it writes, atomically and
        durably in one synced batch, the head at the last (block sync writes a batch of
        finalized blocks at once: one fsync, not one a block)."""
        if not items:
            return
        head = self.head()
        height = -1 if head is None else head.height
        parent_hash = None if head is None else head.block_hash
        log = _AuditLog(self)
        with self._db.write_batch(transaction=True, sync=True) as batch:
            if genesis_hash is not None:
                batch.put(GENESIS_KEY, genesis_hash)
            for item in items:
                block = item.block
                if block.height != height + 1:
                    raise StoreError(
                        f"block {block.height} does not follow the stored head {height}"
                    )
                if parent_hash is not None and block.header.prev_hash != parent_hash:
                    raise StoreError(f"block {block.height} is not a child of the stored head")
                self._put_block(batch, item, log)
                height, parent_hash = block.height, block.hash
            last = items[-1].block
            batch.put(
                HEAD_KEY,
                encode(
                    {"height": last.height, "hash": last.hash, "state_root": last.header.state_root}
                ),
            )

    def _put_block(self, batch: Any, item: "BlockWrite", log: "_AuditLog") -> None:
        block = item.block
        batch.put(b"B" + block.hash, encode_block(block))
        batch.put(_height_key(b"H", block.height), block.hash)
        if item.commit is not None:
            batch.put(_height_key(b"C", block.height), encode_commit(item.commit))
        for index, tx in enumerate(block.txs):
            batch.put(b"T" + tx.id, encode([block.height, index]))
        self._append_audit(batch, block, item.audit_entries, log)
        for receipt in item.receipts:
            if isinstance(block.txs[receipt.index].body.payload, Deploy | Call):
                batch.put(b"R" + receipt.tx_id, encode(receipt_to_value(receipt)))
        for key, value in item.writes.items():
            if value is None:
                batch.delete(b"S" + key)
            else:
                batch.put(b"S" + key, value)
        for node_hash, node in item.new_nodes.items():
            batch.put(b"N" + node_hash, node)
        new_set = item.writes.get(VALIDATORS_KEY)
        if new_set is not None:
            batch.put(b"V" + encoded_set_hash(new_set), new_set)


@dataclass(frozen=True)
class BlockWrite:
    """What committing one block writes: the block, the commit that finalized it (none for
    genesis), its state writes and new tree nodes, its receipts and audit entries."""

    block: Block
    commit: Commit | None
    writes: Mapping[bytes, bytes | None]
    new_nodes: Mapping[bytes, bytes]
    receipts: Sequence[Receipt] = ()
    audit_entries: Sequence[AuditEntry] = ()


class _AuditLog:
    """The audit log as the blocks of one batch leave it: its size, and the subtree hashes
    they added over those stored."""

    def __init__(self, store: ChainReads) -> None:
        self.store = store
        self.size = store.audit_size()
        self.nodes: dict[tuple[int, int], bytes] = {}

    def node(self, level: int, index: int) -> bytes:
        found = self.nodes.get((level, index))
        return self.store.audit_node(level, index) if found is None else found


class PendingWrites:
    """The state as if blocks validated but not yet written were: their records and tree nodes
    over the store's (block sync validates a batch of blocks on top of one another, then
    writes them with `commit_blocks`)."""

    def __init__(self, base: ChainReads) -> None:
        self.base = base
        self.records: dict[bytes, bytes | None] = {}
        self.nodes: dict[bytes, bytes] = {}

    def add(self, writes: Mapping[bytes, bytes | None], new_nodes: Mapping[bytes, bytes]) -> None:
        self.records.update(writes)
        self.nodes.update(new_nodes)

    def get_state(self, key: bytes) -> bytes | None:
        if key in self.records:
            return self.records[key]
        return self.base.get_state(key)

    def get_node(self, node_hash: bytes) -> bytes | None:
        found = self.nodes.get(node_hash)
        return self.base.get_node(node_hash) if found is None else found
