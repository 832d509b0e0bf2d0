"""Blocks as state transitions: build one from candidates, or validate one from a peer.

Both paths run the same functions in the same order, so a block built here is valid everywhere:
begin_block (signatures of the last commit, LAST set, evidence; chain/staking/slashing.py), the
council's validator changes the parent block decided (chain/staking/council.py), begin_farming
(recent hashes; on an epoch's first block, the last epoch's rewards, which the block must carry
exactly; chain/farming/rules.py), begin_liveness (the farm nodes silent for node_down_blocks
marked down; chain/farming/liveness.py), begin_deployment (what those nodes held moved, the
workloads due placed; chain/deployment/begin.py), the transactions, end_block (downtime), then
the state root.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from chain import smt
from chain.blocks.block import Block, tx_root
from chain.blocks.commit import Commit, check_commit, check_commit_claims, commit_hash
from chain.blocks.evidence import MAX_EVIDENCE_PER_BLOCK, DuplicateVoteEvidence, evidence_hash
from chain.blocks.header import Header
from chain.deployment.begin import begin_deployment
from chain.env import BlockEnv
from chain.errors import InvalidBlock, RuleViolation, StoreError, present
from chain.farming.liveness import begin_liveness
from chain.farming.rewards import NodeReward, rewards_root
from chain.farming.rules import begin_farming, check_rewards
from chain.genesis_state import GenesisState, genesis_hash, genesis_header, genesis_state_root
from chain.genesis_state import genesis_writes as initial_records
from chain.governance.rules import expire_proposals, switch_release, take_up_epoch_params
from chain.governance.upgrade import required_release
from chain.ledger.audit import (
    AUDIT_KEY,
    AuditEntry,
    AuditFrontier,
    append,
    decode_frontier,
    encode_frontier,
    entry_leaf,
    frontier_root,
)
from chain.ledger.contracts import ContractRuntime
from chain.ledger.execution import Receipt, process_transaction, proposer_address
from chain.ledger.transactions import SignedTx, check_signatures
from chain.staking.council import apply_validator_changes
from chain.staking.slashing import Punishment, begin_block, end_block
from chain.staking.validators import ValidatorSet, validator_set_hash
from chain.state import Overlay, StateReader, changed_hashes
from chain.store import ChainStore


class NodeStateReader(StateReader, smt.NodeReader, Protocol):
    """What block processing reads: state records and tree nodes (a store or a snapshot)."""


@dataclass(frozen=True)
class BlockResult:
    block: Block
    writes: Mapping[bytes, bytes | None]
    new_nodes: dict[bytes, bytes]
    receipts: tuple[Receipt, ...]
    punishments: tuple[Punishment, ...] = ()
    audit_entries: tuple[AuditEntry, ...] = ()


@dataclass(frozen=True)
class Rejected:
    tx: SignedTx
    error: RuleViolation


def env_for(header: Header, state: Overlay) -> BlockEnv:
    return BlockEnv(
        chain_id=header.chain_id,
        height=header.height,
        time_ms=header.time_ms,
        proposer=proposer_address(header.proposer),
        params=state.params(),
        prev_hash=header.prev_hash,
    )


def state_root_after(
    reader: smt.NodeReader, root: bytes, writes: Mapping[bytes, bytes | None]
) -> tuple[bytes, dict[bytes, bytes]]:
    return smt.update(reader, root, changed_hashes(writes))


def append_audit_log(state: Overlay) -> AuditFrontier:
    """Add the block's audit entries to the log; returns the log the header commits to."""
    raw = state.get_state(AUDIT_KEY)
    frontier = AuditFrontier() if raw is None else decode_frontier(raw)
    if state.audit:
        frontier = append(frontier, [entry_leaf(e) for e in state.audit])
        state.set_state(AUDIT_KEY, encode_frontier(frontier))
    return frontier


def check_header_links(
    parent: Header, header: Header, state: Overlay, block: Block, last_commit_vouched: bool = False
) -> None:
    if header.chain_id != parent.chain_id:
        raise InvalidBlock(f"block is for chain {header.chain_id!r}")
    if header.height != parent.height + 1:
        raise InvalidBlock(f"height {header.height} does not follow {parent.height}")
    if header.prev_hash != parent.hash:
        raise InvalidBlock("prev_hash is not the parent's hash")
    if header.time_ms <= parent.time_ms:
        raise InvalidBlock("block time must be after the parent's time")
    release = required_release(state, header.height)
    if release is not None and header.version != release.version:
        raise InvalidBlock(
            f"block made by release {header.version!r}; from height {release.height} the chain "
            f"runs {release.version!r}"
        )
    vset = state.validator_set()  # the active set: it votes on this block
    if header.validators_hash != validator_set_hash(vset):
        raise InvalidBlock("validators_hash does not match the validator set")
    if vset.power_of(header.proposer) == 0:
        raise InvalidBlock(f"proposer {header.proposer.hex()} is not a validator")
    check_body(block)
    if parent.height >= 1:
        if block.last_commit is None:
            raise InvalidBlock(f"block {header.height} lacks the commit for its parent")
        # The parent was voted on by the LAST set, which differs after a jailing or unjailing.
        voters = state.last_validator_set()
        if last_commit_vouched:  # its signature is vouched for by a later certificate
            check_commit_claims(voters, block.last_commit, parent)
        else:
            check_commit(header.chain_id, voters, block.last_commit, parent)
    elif block.last_commit is not None:
        raise InvalidBlock("the genesis block has no commit to carry")
    params = state.params()
    if header.tx_count > params.max_block_txs:
        raise InvalidBlock(f"tx_count {header.tx_count} is above {params.max_block_txs}")
    if sum(len(tx.encoded) for tx in block.txs) > params.max_block_bytes:
        raise InvalidBlock(f"transactions exceed {params.max_block_bytes} bytes")


def check_body(block: Block) -> None:
    """The block's body is the one its header commits to (a header verified alone, by a light
    client, vouches for the block only with this)."""
    header = block.header
    if header.last_commit_hash != commit_hash(block.last_commit):
        raise InvalidBlock("last_commit_hash does not match the block's last commit")
    if len(block.txs) != header.tx_count:
        raise InvalidBlock(f"tx_count {header.tx_count} is not the {len(block.txs)} transactions")
    if header.tx_root != tx_root(block.txs):
        raise InvalidBlock("tx_root does not match the transactions")
    if len(block.evidence) > MAX_EVIDENCE_PER_BLOCK:
        raise InvalidBlock(f"block carries more than {MAX_EVIDENCE_PER_BLOCK} evidences")
    if header.evidence_hash != evidence_hash(block.evidence):
        raise InvalidBlock("evidence_hash does not match the block's evidence")
    if header.rewards_root != rewards_root(block.rewards):
        raise InvalidBlock("rewards_root does not match the block's rewards")


def block_steps(env: BlockEnv, state: Overlay) -> tuple[NodeReward, ...]:
    """What every block does before its transactions, after its evidence: the release the
    council planned for this height taken up, the validator changes the parent decided,
    expired proposals closed, on an epoch's first block the epoch parameters the council
    decided, the epoch's farming rewards (which it returns) and the grid's placements and
    healing."""
    switch_release(env, state)
    apply_validator_changes(env, state)
    expire_proposals(env, state)
    take_up_epoch_params(env, state)
    rewards = begin_farming(env, state)
    begin_deployment(env, state, begin_liveness(env, state))
    return rewards


def validate_block(
    reader: NodeStateReader,
    parent: Header,
    block: Block,
    verify: Callable[[Iterable[SignedTx]], None] | None = None,
    runtime: ContractRuntime | None = None,
    last_commit_vouched: bool = False,
) -> BlockResult:
    """Check `block` on top of `parent` and return what committing it writes.

    `verify` checks signatures (in parallel, in the node); the default checks them here.
    `runtime` runs contract transactions (the node's VM); without one they are invalid.
    `last_commit_vouched`: the block is in a run a checked certificate vouches for
    (`vouched_run`), so the signature of the certificate it carries for its parent is not
    checked again (what it claims still is).
    """
    state = Overlay(reader)
    header = block.header
    check_header_links(parent, header, state, block, last_commit_vouched)
    try:
        (verify or _check_signatures_serially)(block.txs)
    except RuleViolation as exc:
        raise InvalidBlock(f"a transaction's signature is invalid: {exc.message}") from None
    env = env_for(header, state)
    try:
        _, punished = begin_block(env, state, block.last_commit, block.evidence, strict=True)
    except RuleViolation as exc:
        raise InvalidBlock(f"invalid evidence: {exc.message}") from None
    check_rewards(block.rewards, block_steps(env, state))
    receipts = []
    for index, tx in enumerate(block.txs):
        try:
            receipts.append(process_transaction(env, state, tx, index, runtime))
        except RuleViolation as exc:
            raise InvalidBlock(f"transaction {index} ({tx.id.hex()}): {exc.message}") from None
    punished += end_block(env, state)
    log = append_audit_log(state)
    if (header.audit_size, header.audit_root) != (log.size, frontier_root(log)):
        raise InvalidBlock("audit_root and audit_size do not match the audit log")
    if header.next_validators_hash != validator_set_hash(state.validator_set()):
        raise InvalidBlock("next_validators_hash does not match the set after this block")
    writes = state.writes()
    root, nodes = state_root_after(reader, parent.state_root, writes)
    if root != header.state_root:
        raise InvalidBlock("state_root does not match the state after the transactions")
    return BlockResult(block, writes, nodes, tuple(receipts), punished, tuple(state.audit))


def vouched_run(
    chain_id: str, vset: ValidatorSet, parent: Header, blocks: Sequence[tuple[Block, Commit]]
) -> int:
    """How many of `blocks` (which follow `parent`, each with a commit for it) one certificate
    vouches for: the longest run that chains from `parent` by prev_hash and whose headers all
    name `vset` (the set the state after `parent` holds), once the commit of the run's last
    block checks out as a certificate by `vset`. Validators holding more than 2/3 of `vset`
    signed that block, and with it every header it chains to; so each block of the run must
    then be the body its header commits to, and the certificate each carries for the block
    before it must claim what a certificate of that block by `vset` claims (its signature is
    vouched for). The run ends where the set changes: beyond that, the set would come from
    blocks not yet checked. Returns 0 when the first block names another set; raises
    InvalidBlock when the run's last commit, a body or a carried certificate fails (each of
    these is the fault of whoever sent the blocks: the headers are certified)."""
    set_hash = validator_set_hash(vset)
    run, last = 0, parent
    for block, _ in blocks:
        header = block.header
        if header.height != last.height + 1 or header.prev_hash != last.hash:
            break
        if header.validators_hash != set_hash:
            break
        run += 1
        last = header
    if not run:
        return 0
    final, commit = blocks[run - 1]
    check_commit(chain_id, vset, commit, final.header)
    for index in range(run):
        block = blocks[index][0]
        check_body(block)
        if index > 0:
            carried = block.last_commit
            if carried is None:
                raise InvalidBlock(f"block {block.height} lacks the commit for its parent")
            check_commit_claims(vset, carried, blocks[index - 1][0].header)
    return run


def _check_signatures_serially(txs: Iterable[SignedTx]) -> None:
    for tx in txs:
        check_signatures(tx)


def build_block(
    reader: NodeStateReader,
    parent: Header,
    last_commit: Commit | None,
    proposer: bytes,
    time_ms: int,
    candidates: Iterable[SignedTx],
    *,
    evidence: Sequence[DuplicateVoteEvidence] = (),
    runtime: ContractRuntime | None = None,
    version: str = "",
) -> tuple[BlockResult, list[Rejected]]:
    """Assemble the next block from signature-checked candidates, leaving out any that fail.

    `evidence` is what the node gathered: what does not check out (or would exceed
    MAX_EVIDENCE_PER_BLOCK) is left out silently. `version` is the release making the block
    (a node's own; it stops rather than build under a release the chain does not run); tools
    that make chains without one stamp the release the chain requires."""
    state = Overlay(reader)
    time_ms = max(time_ms, parent.time_ms + 1)
    params = state.params()
    vset_hash = validator_set_hash(state.validator_set())  # before this block changes it
    release = required_release(state, parent.height + 1)
    version = version or ("" if release is None else release.version)
    env = BlockEnv(
        parent.chain_id,
        parent.height + 1,
        time_ms,
        proposer_address(proposer),
        params,
        prev_hash=parent.hash,
    )
    included_evidence, punished = begin_block(env, state, last_commit, evidence, strict=False)
    rewards = block_steps(env, state)
    included: list[SignedTx] = []
    receipts: list[Receipt] = []
    rejected: list[Rejected] = []
    size = 0
    for tx in candidates:
        if len(included) >= params.max_block_txs or size + len(tx.encoded) > params.max_block_bytes:
            break
        try:
            receipts.append(process_transaction(env, state, tx, len(included), runtime))
        except RuleViolation as exc:
            rejected.append(Rejected(tx, exc))
            continue
        included.append(tx)
        size += len(tx.encoded)
    punished += end_block(env, state)
    log = append_audit_log(state)
    writes = state.writes()
    root, nodes = state_root_after(reader, parent.state_root, writes)
    header = Header(
        chain_id=parent.chain_id,
        height=parent.height + 1,
        prev_hash=parent.hash,
        time_ms=time_ms,
        proposer=proposer,
        tx_root=tx_root(included),
        tx_count=len(included),
        state_root=root,
        audit_root=frontier_root(log),
        audit_size=log.size,
        validators_hash=vset_hash,
        next_validators_hash=validator_set_hash(state.validator_set()),
        last_commit_hash=commit_hash(last_commit),
        evidence_hash=evidence_hash(included_evidence),
        rewards_root=rewards_root(rewards),
        version=version,
    )
    block = Block(header, tuple(included), last_commit, included_evidence, rewards)
    result = BlockResult(block, writes, nodes, tuple(receipts), punished, tuple(state.audit))
    return result, rejected


def genesis_block(gen: GenesisState) -> BlockResult:
    writes = initial_records(gen)
    root, nodes = genesis_state_root(writes)
    return BlockResult(Block(genesis_header(gen, root), (), None), writes, nodes, ())


def open_chain(store: ChainStore, gen: GenesisState) -> Header:
    """Write block 0 into an empty store, or check the store belongs to this genesis."""
    expected = genesis_hash(gen)
    stored = store.genesis_hash()
    if stored is None:
        if store.head() is not None:
            raise StoreError("database has blocks but no genesis record")
        result = genesis_block(gen)
        store.commit_block(result.block, None, result.writes, result.new_nodes, expected)
    elif stored != expected:
        raise StoreError(
            f"database at {store.path} belongs to genesis {stored.hex()}, not {expected.hex()}"
        )
    head = present(store.head(), "a head record")
    block = store.block(head.block_hash)
    if block is None:
        raise StoreError(f"head block {head.block_hash.hex()} is missing")
    return block.header
