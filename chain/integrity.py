"""Whole-database checks: is every committed block there, linked, finalized and re-executable?

Used by the crash test and by `gridchain node verify`: the stored chain is replayed from genesis
into a scratch database, block by block, with every rule (signatures, commits, state roots), and
the stored state records are checked against the head's state root.
"""

from collections.abc import Callable
from dataclasses import dataclass

from chain import smt
from chain.blockchain import open_chain, validate_block
from chain.blocks.commit import check_commit
from chain.errors import StoreError
from chain.genesis_state import GenesisState
from chain.hashing import hash32
from chain.ledger.contracts import ContractRuntime
from chain.state import Overlay
from chain.store import ChainStore


@dataclass(frozen=True)
class IntegrityReport:
    height: int
    blocks: int
    transactions: int
    state_records: int


def replay_store(
    store: ChainStore,
    genesis: GenesisState,
    scratch_path: str,
    progress: Callable[[int, int], None] = lambda done, total: None,
    runtime: ContractRuntime | None = None,
) -> IntegrityReport:
    """Replay `store` into a new database at `scratch_path`; raise on the first discrepancy."""
    head = store.head()
    if head is None:
        raise StoreError("database is empty")
    base = store.base_height()
    if base > 0:
        raise StoreError(
            f"this database began from a snapshot of height {base} (state sync): it holds no "
            "blocks before it to replay"
        )
    replica = ChainStore(scratch_path)
    try:
        parent = open_chain(replica, genesis)
        if store.block_hash_at(0) != parent.hash:
            raise StoreError("stored genesis block differs from the genesis file's")
        txs = 0
        for height in range(1, head.height + 1):
            block = store.block_at(height)
            commit = store.commit_at(height)
            if block is None or commit is None:
                raise StoreError(f"block or commit {height} is missing below head {head.height}")
            result = validate_block(replica, parent, block, runtime=runtime)
            # The replica is still at the parent's state, whose active set voted on this block:
            # the set light clients are served for this height must be that one.
            voters = Overlay(replica).validator_set()
            check_commit(genesis.chain_id, voters, commit, block.header)
            if store.validator_set(block.header.validators_hash) != voters:
                raise StoreError(f"the stored validator set of height {height} is not its voters'")
            for index, tx in enumerate(block.txs):
                if store.tx_location(tx.id) != (height, index):
                    raise StoreError(f"transaction index is wrong for {tx.id.hex()}")
            replica.commit_block(
                block,
                commit,
                result.writes,
                result.new_nodes,
                receipts=result.receipts,
                audit_entries=result.audit_entries,
            )
            parent = block.header
            txs += len(block.txs)
            progress(height, head.height)
        if parent.hash != head.block_hash or parent.state_root != head.state_root:
            raise StoreError("head record does not match the last block")
        records = check_state_records(store, head.state_root)
    finally:
        replica.close()
    return IntegrityReport(head.height, head.height + 1, txs, records)


def check_state_records(store: ChainStore, state_root: bytes) -> int:
    """Every stored record is what the state root commits to, and the root holds no others."""
    count = 0
    for key, value in store.state_items():
        if smt.get(store, state_root, key) != hash32(value):
            raise StoreError(f"state record {key.hex()} does not match the state root")
        count += 1
    if count != smt.count_leaves(store, state_root):
        raise StoreError("the state root commits to records that are not stored")
    return count
