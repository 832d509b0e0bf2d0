"""Blocks for benchmarks: a commit signed by the given validators, and an empty block built,
optionally with extra records written into its state (a large farm, a grid of nodes), and
committed to a real store."""

from collections.abc import Mapping
from dataclasses import dataclass, replace

from chain import bls
from chain.blockchain import build_block, state_root_after
from chain.blocks.commit import Commit, VoteType, sign_commit, signer_bitmap, vote_sign_bytes
from chain.blocks.header import Header
from chain.bls.suite import CURVE_ORDER
from chain.keys import KeyPair
from chain.staking.validators import make_validator_set, validator_bls_key, validator_with_key
from chain.store import ChainStore


def commit_for(chain_id: str, keys: list[KeyPair], header: Header) -> Commit:
    """The round-0 certificate of `header` by every key, where `keys` are the whole validator
    set (a certificate names its signers by their place in the set, which stake does not
    change)."""
    vset = make_validator_set([validator_with_key(k, 1) for k in keys])
    return sign_commit(chain_id, vset, keys, header)


@dataclass(frozen=True)
class Certifier:
    """Round-0 certificates by every one of a set's keys, made with one BLS signature a
    height: every signer signs the same precommit, so the aggregate of their signatures is
    the signature under the sum of their secrets (BLS signing is deterministic), byte for byte
    what `commit_for` makes at a quarter of its cost for four keys. For generated chains of
    100,000 blocks, where signing was most of the time."""

    chain_id: str
    signers: bytes
    combined: bls.BlsKey

    @classmethod
    def of(cls, chain_id: str, keys: list[KeyPair]) -> "Certifier":
        vset = make_validator_set([validator_with_key(k, 1) for k in keys])
        secret = sum(int.from_bytes(validator_bls_key(k).secret, "big") for k in keys)
        combined = bls.bls_key_from_secret((secret % CURVE_ORDER).to_bytes(32, "big"))
        return cls(chain_id, signer_bitmap(range(len(vset.validators))), combined)

    def certify(self, header: Header) -> Commit:
        message = vote_sign_bytes(self.chain_id, header.height, 0, VoteType.PRECOMMIT, header.hash)
        return Commit(header.height, 0, header.hash, self.signers, bls.sign(self.combined, message))


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
