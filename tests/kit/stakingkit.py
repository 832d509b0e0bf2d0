"""A chain of several validators on a real store, each block committed by a real certificate
of the set that voted on it: for the staking rules' tests (slashing, the council's changes)."""

from collections.abc import Iterable, Sequence
from pathlib import Path

from chain.blockchain import BlockResult, Rejected, build_block, open_chain, validate_block
from chain.blocks.block import Block
from chain.blocks.commit import Commit, sign_commit
from chain.blocks.evidence import DuplicateVoteEvidence
from chain.genesis_state import GenesisState
from chain.integrity import replay_store
from chain.keys import KeyPair
from chain.ledger.transactions import SignedTx
from chain.staking.validators import ValidatorSet
from chain.state import JailedValidator, Overlay, jailed_validators
from chain.store import ChainStore


class StakingChain:
    """A store with its head; commits are signed by the set that voted on each block."""

    def __init__(self, path: Path, genesis: GenesisState, keys: Iterable[KeyPair]) -> None:
        self.genesis = genesis
        self.keys = {k.public_key: k for k in keys}
        self.store = ChainStore(str(path))
        self.head = open_chain(self.store, genesis)
        self.last_commit: Commit | None = None

    @property
    def state(self) -> Overlay:
        return Overlay(self.store)

    def active(self) -> ValidatorSet:
        return self.state.validator_set()

    def build(
        self,
        txs: Sequence[SignedTx] = (),
        evidence: Sequence[DuplicateVoteEvidence] = (),
        proposer: bytes | None = None,
    ) -> tuple[BlockResult, list[Rejected]]:
        proposer = proposer or self.active().validators[0].public_key
        return build_block(
            self.store,
            self.head,
            self.last_commit,
            proposer,
            self.head.time_ms + 1000,
            list(txs),
            evidence=evidence,
        )

    def commit(self, result: BlockResult, absent: Sequence[KeyPair] = ()) -> Commit:
        """The commit for the block, by the set that voted on it: the active set before it."""
        voters = self.active()
        left_out = {k.public_key for k in absent}
        signers = [
            self.keys[v.public_key] for v in voters.validators if v.public_key not in left_out
        ]
        commit = sign_commit(self.genesis.chain_id, voters, signers, result.block.header)
        self.store.commit_block(
            result.block,
            commit,
            result.writes,
            result.new_nodes,
            receipts=result.receipts,
            audit_entries=result.audit_entries,
        )
        self.head, self.last_commit = result.block.header, commit
        return commit

    def produce(
        self,
        txs: Sequence[SignedTx] = (),
        evidence: Sequence[DuplicateVoteEvidence] = (),
        absent: Sequence[KeyPair] = (),
    ) -> BlockResult:
        result, rejected = self.build(txs, evidence)
        assert rejected == [], [r.error.message for r in rejected]
        self.commit(result, absent)
        return result

    def produce_until(self, height: int) -> None:
        while self.head.height < height:
            self.produce()

    def validate(self, block: Block) -> BlockResult:
        return validate_block(self.store, self.head, block)

    def jailed(self) -> dict[bytes, JailedValidator]:
        return {j.public_key: j for j in jailed_validators(self.store)}

    def verify_replay(self, scratch: Path) -> None:
        report = replay_store(self.store, self.genesis, str(scratch))
        assert report.height == self.head.height
