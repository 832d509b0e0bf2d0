"""The node's application side: admission, the mempool, and the committed chain in its store.

Consensus (node/consensus/reactor.py) decides which block comes next; this module builds and
validates blocks with the rules of chain/ and commits block, commit, state and tree nodes in one
synced batch. It never decides anything on its own.
"""

import asyncio
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from chain.address import Address
from chain.blockchain import (
    BlockResult,
    Rejected,
    build_block,
    open_chain,
    validate_block,
    vouched_run,
)
from chain.blocks.block import Block
from chain.blocks.commit import Commit, check_commit, sign_commit
from chain.blocks.evidence import DuplicateVoteEvidence
from chain.blocks.header import Header
from chain.errors import EncodingError, GridchainError, InvalidSignature, RuleViolation
from chain.farming.liveness import nodes_down
from chain.genesis_state import GenesisState, genesis_hash
from chain.keys import KeyPair
from chain.ledger.audit import AuditEntry
from chain.ledger.execution import check_contract_target, check_gas, check_recipient
from chain.ledger.transactions import (
    Call,
    Deploy,
    SignedTx,
    Transfer,
    check_chain,
    check_shape,
    check_signatures,
    decode_tx,
)
from chain.params import ChainParams
from chain.state import Account, Overlay, read_account
from chain.store import BlockWrite, ChainStore, PendingWrites, Snapshot
from node.config import ConfigError, NodeConfig
from node.mempool import DuplicateTx, Mempool, MempoolFull, Replaced
from node.metrics import NodeMetrics
from node.release import VERSION, UpgradeNeeded, check_release
from node.replica_census import ReplicaCensus, rule_entries
from node.statesync.maker import SnapshotMaker
from node.txjournal import JournalError, TxJournal, Verdict
from node.verifier import Pending, SignatureVerifier
from vm.machine import load_program
from vm.runtime import VmRuntime

log = logging.getLogger("gridchain.node")
REJECTED_MEMORY = 10_000
BLOCK_TIMES = 1024  # heights whose block time the metrics keep (time_ms_at)


@dataclass(frozen=True)
class Admission:
    tx_id: bytes | None
    error: GridchainError | None


class NodeService:
    """The application: admits transactions, builds, validates and commits blocks."""

    def __init__(
        self, store: ChainStore, genesis: GenesisState, key: KeyPair, config: NodeConfig
    ) -> None:
        self.store = store
        self.genesis = genesis
        self.genesis_hash = genesis_hash(genesis)
        self.key = key
        self.config = config
        self.metrics = NodeMetrics()
        self.mempool = Mempool(config.mempool_max_txs, config.mempool_max_bytes)
        self.verifier = SignatureVerifier(config.verify_workers)
        self.runtime = VmRuntime()
        self.head: Header = open_chain(store, genesis)
        self.last_commit: Commit | None = store.commit_at(self.head.height)
        # Admission reads the state the mempool was last reconciled with.
        self.view: Snapshot = store.snapshot()
        # The chain's parameters as of that state: the council changes them on chain.
        self.params: ChainParams = Overlay(self.view).params()
        # Why recently admitted transactions were left out of a block, for GET /v1/txs/{id}.
        self.rejected: OrderedDict[bytes, GridchainError] = OrderedDict()
        self._block_committed = asyncio.Condition()
        # Called with each newly admitted transaction, so consensus can gossip it (txgossip.py).
        self.on_admitted: Callable[[SignedTx], None] | None = None
        # What this node admitted, kept across a crash (txjournal.py); set by restore_mempool.
        self.journal: TxJournal | None = None
        # Snapshots of the state for nodes that join late (node/statesync/); set by the server
        # when the node's settings ask for them.
        self.snapshots: SnapshotMaker | None = None
        self.metrics.height.set(self.head.height)
        # Block times by height for the metrics, most recently used last (time_ms_at).
        self._block_times: OrderedDict[int, int] = OrderedDict()
        # Replicas by state, for the metrics: the state has no list of deployments.
        self.census = ReplicaCensus()
        self._quietly("the replica census", self._seed_census)

    @property
    def chain_id(self) -> str:
        return self.genesis.chain_id

    # Admission

    def account(self, address: Address) -> Account | None:
        return read_account(self.view, address)

    def next_nonce(self, address: Address) -> int:
        """The nonce a new transaction from `address` should carry, counting pending ones."""
        account = self.account(address)
        committed = 0 if account is None else account.nonce
        return committed + self.mempool.pending_count(address)

    def admit(self, tx: SignedTx, relay: bool = True) -> None:
        """Admit a transaction whose signatures are already verified, or raise why not."""
        check_chain(tx, self.chain_id)
        check_shape(tx)
        location = self.view.tx_location(tx.id)
        if location is not None:
            raise DuplicateTx(f"transaction {tx.id.hex()} is already in block {location[0]}")
        payload = tx.body.payload
        params = self.params
        if isinstance(payload, Transfer):
            check_recipient(Overlay(self.view), payload.to)
        elif isinstance(payload, Deploy | Call):
            check_gas(params, tx.body.fee, payload.gas_limit)
            check_contract_target(Overlay(self.view), tx)
            if isinstance(payload, Deploy):
                load_program(payload.code)  # InvalidCode says what is wrong, before a fee is paid
        replaced = self.mempool.add(tx, self.account(tx.body.sender), params.min_fee)
        self.rejected.pop(tx.id, None)  # accepted again: an earlier verdict no longer holds
        if replaced is not None:
            self._reject(replaced.id, Replaced(f"replaced by {tx.id.hex()}, with a higher fee"))
        if self.journal is not None:
            # A failure leaves it pending in memory, and the caller told journal_error: it
            # may still be committed (resubmitting is safe); the journal is broken until a
            # rewrite succeeds, and nothing more is accepted meanwhile.
            self.journal.add(tx.encoded)
        if relay and self.on_admitted is not None:
            self.on_admitted(tx)
        self._update_mempool_metrics()

    def submit(self, data: bytes) -> bytes:
        """Decode, verify and admit one transaction; returns its id."""
        if self.journal is not None:
            self.journal.check()
        try:
            tx = decode_tx(data)
            check_chain(tx, self.chain_id)
            check_shape(tx)
            check_signatures(tx)
            self.admit(tx)
        except RuleViolation as exc:
            self.metrics.rejected.labels(exc.code).inc()
            raise
        if self.journal is not None:
            self.journal.flush()  # accepted once the journal has it
        return tx.id

    async def submit_many(self, items: Sequence[bytes], relay: bool = True) -> list[Admission]:
        """Batch admission: signatures checked on every core, then admitted in order."""
        if self.journal is not None:
            self.journal.check()
        decoded: list[SignedTx | RuleViolation] = []
        for data in items:
            try:
                tx = decode_tx(data)
                check_chain(tx, self.chain_id)
                check_shape(tx)
                if tx.id in self.mempool:  # before its signatures: a peer's welcome resends
                    raise DuplicateTx(f"transaction {tx.id.hex()} is already pending")
                decoded.append(tx)
            except RuleViolation as exc:
                decoded.append(exc)
        txs = [tx for tx in decoded if isinstance(tx, SignedTx)]
        verdicts = await asyncio.get_running_loop().run_in_executor(None, self.verifier.verify, txs)
        bad = {tx.id: v for tx, v in zip(txs, verdicts, strict=True) if v is not None}
        results = []
        for item in decoded:
            if isinstance(item, RuleViolation):
                error: GridchainError | None = item
            elif item.id in bad:
                code, message = bad[item.id]
                error = _error_from(code, message)
            else:
                try:
                    self.admit(item, relay)
                    error = None
                except (RuleViolation, MempoolFull, JournalError) as exc:
                    error = exc
            if error is not None:
                self.metrics.rejected.labels(error.code).inc()
            results.append(Admission(item.id if isinstance(item, SignedTx) else None, error))
        if self.journal is not None:
            self.journal.flush()  # accepted once the journal has them
        return results

    def restore_mempool(self, journal: TxJournal) -> None:
        """Admit the journal's transactions again (after a restart), then keep journaling.

        A transaction whose last record is a verdict stays rejected with it; the others are
        admitted in the order they were last accepted: what a block committed meanwhile is
        dropped, what is refused now is rejected with the reason (a full mempool included),
        and the journal is rewritten with the verdicts and what is pending."""
        last: dict[bytes, bytes | Verdict] = {}
        for record in journal.open():
            if isinstance(record, Verdict):
                last[record.tx_id] = record
                continue
            try:
                tx_id = decode_tx(record).id
            except RuleViolation:
                continue  # not a transaction: nothing we ever accepted
            last.pop(tx_id, None)  # accepted again after a verdict: the later word counts
            last[tx_id] = record
        restored = 0
        for tx_id, record in last.items():
            if isinstance(record, Verdict):
                self._reject(tx_id, Verdicted(record.code, record.message), journal=False)
                continue
            try:
                self.submit(record)
                restored += 1
            except DuplicateTx:
                continue  # committed, or twice in the journal
            except (RuleViolation, MempoolFull) as exc:
                self._reject(tx_id, exc, journal=False)
        self.journal = journal
        self._rewrite_journal(journal)
        if restored:
            log.info("mempool: %d transactions restored from the journal", restored)

    # Blocks

    async def build(
        self, time_ms: int, evidence: Sequence[DuplicateVoteEvidence] = ()
    ) -> BlockResult:
        """Assemble the next block from the mempool; transactions that fail are dropped."""
        check_release(self.store, self.head.height + 1)
        candidates = list(self.mempool.select(self.params.max_block_txs))
        build = functools.partial(
            build_block, evidence=evidence, runtime=self.runtime, version=VERSION
        )
        result, rejected = await asyncio.to_thread(
            build, self.store, self.head, self.last_commit, self.key.public_key, time_ms, candidates
        )
        for r in rejected:
            log.info("left out %s: %s", r.tx.id.hex(), r.error.message)
            for later in self.mempool.drop(r.tx):
                why = f"an earlier transaction of its sender ({r.tx.id.hex()}) was left out"
                self._reject(later.id, NoLongerValid(why))
        self._remember_rejected(rejected)
        return result

    async def validate(self, block: Block) -> BlockResult:
        """Check a peer's block on top of our head; signatures the mempool checked are skipped.
        A block of a height whose release this node does not run is not judged at all: the
        node stops (UpgradeNeeded) instead of calling it invalid."""
        check_release(self.store, block.height)
        return await asyncio.to_thread(
            validate_block, self.store, self.head, block, self._verify, self.runtime
        )

    def _verify(self, txs: Iterable[SignedTx]) -> None:
        unknown = [tx for tx in txs if not self._pooled(tx)]
        for verdict in self.verifier.verify(unknown):
            if verdict is not None:
                raise _error_from(*verdict)

    def _pooled(self, tx: SignedTx) -> bool:
        """Whether the mempool holds these very bytes: their signatures were checked then."""
        pooled = self.mempool.get(tx.id)
        return pooled is not None and pooled.encoded == tx.encoded

    async def apply(self, result: BlockResult, commit: Commit) -> Header:
        """Durably commit a finalized block with the commit that proves it, then move on."""
        started = time.perf_counter()
        await asyncio.to_thread(self._write, [(result, commit)])
        await self._committed([(result, commit)], started)
        return result.block.header

    async def apply_synced(self, items: Sequence[tuple[Block, Commit]]) -> "SyncOutcome":
        """Check each synced block's commit, validate it on top of the one before and commit
        them, all in one worker thread and in one synced write (split at snapshot heights,
        whose state a snapshot must see): no hand-off and no fsync per block. The blocks
        before one that fails are final, and committed; the outcome says what stopped it."""
        started = time.perf_counter()
        unknown = [tx for block, _ in items for tx in block.txs if not self._pooled(tx)]
        verifying = self.verifier.start(unknown)
        outcome = await asyncio.to_thread(self._sync_batch, items, unknown, verifying)
        if outcome.applied:
            await self._committed(outcome.applied, started)
        return outcome

    def _sync_batch(
        self, items: Sequence[tuple[Block, Commit]], unknown: Sequence[SignedTx], verifying: Pending
    ) -> "SyncOutcome":
        """In a worker thread: nothing of the node's in-memory state is touched here."""
        pending = PendingWrites(self.store)
        place = {tx.id: i for i, tx in enumerate(unknown)}

        def verify(txs: Iterable[SignedTx]) -> None:
            for tx in txs:
                i = place.get(tx.id)  # None: pooled, checked when it was admitted
                verdict = None if i is None else verifying.verdict(i)
                if verdict is not None:
                    raise _error_from(*verdict)

        parent, unwritten, applied = self.head, list[tuple[BlockResult, Commit]](), []
        try:
            # One certificate, the run's last, stands for the signatures of all the run's.
            run = vouched_run(self.chain_id, Overlay(pending).validator_set(), parent, items)
        except RuleViolation:
            # Block by block instead: the blocks before the one at fault are committed, an
            # upgrade's height stops the node before any block past it is judged, and a
            # commit that fails is blamed at its own height.
            run = 0
        failure: GridchainError | None = None
        bad_commit = False
        try:
            for index, (block, commit) in enumerate(items):
                if block.height != parent.height + 1:
                    break
                check_release(pending, block.height)
                vouched = index < run
                carried = items[index + 1][0].last_commit if index + 1 < run else None
                if carried is not None:
                    # Kept as this height's certificate: the one the next block carries, which
                    # the run's certificate vouches for (the peer's own was not checked).
                    commit = carried
                elif not vouched:
                    try:
                        check_commit(
                            self.chain_id, Overlay(pending).validator_set(), commit, block.header
                        )
                    except RuleViolation:
                        bad_commit = True
                        raise
                result = validate_block(
                    pending, parent, block, verify, self.runtime, last_commit_vouched=vouched
                )
                pending.add(result.writes, result.new_nodes)
                unwritten.append((result, commit))
                parent = block.header
                if self.snapshots is not None and self.snapshots.due(block.height):
                    self._write(unwritten)
                    applied += unwritten
                    unwritten = []
        except (RuleViolation, UpgradeNeeded) as exc:
            failure = exc
        if unwritten:
            self._write(unwritten)
            applied += unwritten
        return SyncOutcome(applied, failure, bad_commit)

    def _write(self, results: Sequence[tuple[BlockResult, Commit]]) -> None:
        """Commit blocks in one synced batch (in a worker thread), then let the snapshot
        maker see the state of the last before another block can change it."""
        self.store.commit_blocks(
            [
                BlockWrite(r.block, c, r.writes, r.new_nodes, r.receipts, r.audit_entries)
                for r, c in results
            ]
        )
        if self.snapshots is not None:
            self.snapshots.block_committed(self.store, results[-1][0].block.header)

    async def _committed(
        self, results: Sequence[tuple[BlockResult, Commit]], started: float
    ) -> None:
        """The in-memory side of committed blocks: head, mempool, metrics, waiters. The
        blocks are written: nothing the metrics do may fail this (an exception here would stop
        consensus, on every node at the same block), so their failures are logged and
        counted."""
        last, commit = results[-1]
        self.head, self.last_commit = last.block.header, commit
        self._reconcile_mempool([tx for r, _ in results for tx in r.block.txs])
        first = results[0][0].block.height
        blocks = f"block {first}" if len(results) == 1 else f"blocks {first}..{last.block.height}"
        self._quietly(blocks, lambda: self._observe(results, started))
        async with self._block_committed:
            self._block_committed.notify_all()

    def _observe(self, results: Sequence[tuple[BlockResult, Commit]], started: float) -> None:
        """The metrics of committed blocks. The census reads the state after the last, so a
        replica's time to deploy is measured only when blocks are committed one at a time
        (consensus, or a sync batch of one): in a batch, a replica deployed in one block and
        moved in a later one could not be told from one never deployed."""
        last = results[-1][0]
        self.metrics.height.set(last.block.height)
        self.metrics.blocks.inc(len(results))
        self.metrics.txs_applied.inc(sum(len(r.block.txs) for r, _ in results))
        self.metrics.apply_seconds.observe(time.perf_counter() - started)
        named: list[AuditEntry] = []
        for result, _ in results:
            header = result.block.header
            self._remember_time(header.height, header.time_ms)
            entries = rule_entries(result.audit_entries, result.receipts)
            self.metrics.observe_deployments(entries, header.time_ms, self.time_ms_at)
            self.metrics.observe_farming(result.block, self.params)
            named += entries
        authorized = self.census.observe(self.store, named)
        if len(results) == 1:
            self.metrics.observe_deploys(
                last.block.header.time_ms, [self.time_ms_at(h) for h in authorized]
            )
        self.metrics.show_replicas(self.census.counts())
        self.metrics.nodes_down.set(nodes_down(self.store))

    def _seed_census(self) -> None:
        self.census.seed(self.view)
        self.metrics.show_replicas(self.census.counts())

    def _quietly(self, what: str, act: Callable[[], None]) -> None:
        """Metrics work that must never stop the node: a failure is logged and counted."""
        try:
            act()
        except Exception:
            self.metrics.metrics_errors.inc()
            log.exception("metrics of %s failed; the node goes on without them", what)

    def time_ms_at(self, height: int) -> int | None:
        """The time of the committed block at `height` (None: not held, e.g. pruned, or not
        committed): read from its header alone, and kept for the last BLOCK_TIMES heights
        asked (a committed block's time never changes)."""
        if not 0 <= height <= self.head.height:
            return None
        known = self._block_times.get(height)
        if known is not None:
            self._block_times.move_to_end(height)
            return known
        header = self.store.header_at(height)
        if header is None:
            return None
        self._remember_time(height, header.time_ms)
        return header.time_ms

    def _remember_time(self, height: int, time_ms: int) -> None:
        self._block_times[height] = time_ms
        self._block_times.move_to_end(height)
        while len(self._block_times) > BLOCK_TIMES:
            self._block_times.popitem(last=False)

    def record_commit(self, commit: Commit) -> None:
        """Replace the head's commit with a larger one for the same block (late precommits).

        The next block carries it as its last commit; it is stored too, so a restart proposes
        with it and block sync serves it.
        """
        current = self.last_commit
        if current is None or (commit.height, commit.block_hash) != (
            current.height,
            current.block_hash,
        ):
            raise ValueError("a gathered commit must be for the head block")
        self.store.replace_commit(commit)
        self.last_commit = commit

    async def produce_block(self) -> Header:
        """Build, sign and commit a block alone: only for a validator holding > 2/3 of power."""
        vset = Overlay(self.store).validator_set()  # the set that votes on the next block
        power = vset.power_of(self.key.public_key)
        if 3 * power <= 2 * vset.total_power:
            raise ConfigError(
                f"this node's validator holds {power} of {vset.total_power} blockstake; "
                "committing alone needs more than 2/3"
            )
        result = await self.build(int(time.time() * 1000))
        commit = sign_commit(self.chain_id, vset, [self.key], result.block.header)
        return await self.apply(result, commit)

    def _remember_rejected(self, rejections: Sequence[Rejected]) -> None:
        for r in rejections:
            self._reject(r.tx.id, r.error)
        if rejections:
            self._journal_quietly(lambda journal: journal.flush())

    def _reject(self, tx_id: bytes, error: GridchainError, journal: bool = True) -> None:
        """Remember why a transaction this node had accepted will not be committed (for
        GET /v1/txs/{id}), in the journal too, so a restart neither forgets nor revives it."""
        self.rejected[tx_id] = error
        self.rejected.move_to_end(tx_id)
        while len(self.rejected) > REJECTED_MEMORY:
            self.rejected.popitem(last=False)
        if journal:
            verdict = Verdict(tx_id, error.code, error.message)
            self._journal_quietly(lambda j: j.reject(verdict))

    def _journal_quietly(self, act: Callable[[TxJournal], None]) -> None:
        """A journal write on the way of blocks: its failure (this machine's disk) must not
        stop consensus; the journal stays broken, and refuses submissions, until a rewrite
        at a later block succeeds."""
        if self.journal is None:
            return
        try:
            act(self.journal)
        except JournalError as exc:
            log.error("%s", exc.message)

    def _rewrite_journal(self, journal: TxJournal) -> None:
        verdicts = [Verdict(i, e.code, e.message) for i, e in self.rejected.items()]
        journal.rewrite((tx.encoded for tx in self.mempool.select(len(self.mempool))), verdicts)

    def _reconcile_mempool(self, included: Sequence[SignedTx]) -> None:
        old_view, self.view = self.view, self.store.snapshot()
        old_view.close()
        self.params = Overlay(self.view).params()
        touched = {tx.body.sender for tx in included}
        for tx, why in self.mempool.update(self.account, touched):
            if self.view.tx_location(tx.id) is None:  # not committed: dropped
                self._reject(tx.id, NoLongerValid(f"{why}: dropped at height {self.head.height}"))
        self._update_mempool_metrics()
        journal = self.journal
        if journal is not None:
            if journal.broken is not None or journal.due(len(self.mempool) + len(self.rejected)):
                self._journal_quietly(self._rewrite_journal)
            else:
                self._journal_quietly(lambda j: j.flush())

    def _update_mempool_metrics(self) -> None:
        self.metrics.mempool_txs.set(len(self.mempool))
        self.metrics.mempool_bytes.set(self.mempool.bytes)

    async def wait_for_height(self, height: int, timeout: float) -> bool:
        async with self._block_committed:
            try:
                await asyncio.wait_for(
                    self._block_committed.wait_for(lambda: self.head.height >= height), timeout
                )
            except TimeoutError:
                return False
        return True

    def close(self) -> None:
        if self.snapshots is not None:
            self.snapshots.close()
        if self.journal is not None:
            self.journal.close()
        self.verifier.close()
        self.view.close()
        self.store.close()


@dataclass(frozen=True)
class SyncOutcome:
    """What a batch of synced blocks came to: those committed, and what stopped the rest
    (`bad_commit`: the block's commit failed, so the peer that sent it is faulty)."""

    applied: list[tuple[BlockResult, Commit]]
    failure: GridchainError | None = None
    bad_commit: bool = False


class NoLongerValid(RuleViolation):
    """An accepted transaction a block made invalid (its nonce used, its sender's balance or
    policy changed): dropped from the mempool."""

    code = "no_longer_valid"


class Verdicted(GridchainError):
    """A verdict read back from the journal, with the code it was given."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _error_from(code: str, message: str) -> RuleViolation:
    """Rebuild an error reported by a verifier process (only its code and message travel)."""
    cls = InvalidSignature if code == InvalidSignature.code else EncodingError
    return cls(message)
