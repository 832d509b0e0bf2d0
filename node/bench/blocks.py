"""Blocks for benchmarks: a commit signed by the given validators, and an empty block built,
optionally with extra records written into its state (a large farm, a grid of nodes), and
committed to a real store."""

from collections.abc import Mapping
from dataclasses import replace

from chain.blockchain import build_block, state_root_after
from chain.blocks.commit import Commit, sign_commit
from chain.blocks.header import Header
from chain.keys import KeyPair
from chain.staking.validators import make_validator_set, validator_with_key
from chain.store import ChainStore


def commit_for(chain_id: str, keys: list[KeyPair], header: Header) -> Commit:
    """The round-0 certificate of `header` by every key, where `keys` are the whole validator
    set (a certificate names its signers by their place in the set, which stake does not
    change)."""
    vset = make_validator_set([validator_with_key(k, 1) for k in keys])
    return sign_commit(chain_id, vset, keys, header)


def produce(
    store: ChainStore,
    head: Header,
    last_commit: Commit | None,
    chain_id: str,
    validator: KeyPair,
    extra: Mapping[bytes, bytes],
) -> tuple[Header, Commit]:
    """Build an empty block and commit it, with `extra` records written into its state."""
    result, _ = build_block(store, head, last_commit, validator.public_key, head.time_ms + 1000, [])
    block, writes, new_nodes = result.block, result.writes, result.new_nodes
    if extra:
        writes = {**writes, **extra}
        root, new_nodes = state_root_after(store, head.state_root, writes)
        block = replace(block, header=replace(block.header, state_root=root))
    commit = commit_for(chain_id, [validator], block.header)
    store.commit_block(block, commit, writes, new_nodes)
    return block.header, commit
