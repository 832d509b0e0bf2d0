"""The consensus reactor: drives the Tendermint state machine with the real world.

It feeds the machine (consensus/tendermint.py) with checked proposals and votes from peers and
with fired timers, and carries out what the machine asks: vote, propose, build or validate a
block, commit a decision. One task consumes every event in order, so the machine never sees two
inputs at once.

Crash recovery: every input of the current height is written to the WAL before the machine sees
it, and our own proposals and votes are fsynced before they leave the process (own_messages.py).
On restart the node replays the WAL of the height after its head (replay.py) and resumes in the
round it was in.

The other roles are apart, each with its own state, as cometbft separates its reactors: who gets
what (gossip.py), transaction gossip with its own tasks and queues (txgossip.py), catching up
with peers that are ahead (blocksync.py), pending evidence (evidence.py), and how long to wait
for work (pace.py). All but transaction gossip run inside this reactor's event loop; none of
them imports this module (block sync calls back through its `Deciding` protocol).
"""

import asyncio
import logging
import os
import signal
import time
from collections.abc import Sequence
from typing import Any

from chain.blockchain import BlockResult
from chain.blocks.block import Block, decode_block
from chain.blocks.commit import Commit, commit_signers, signer_count
from chain.blocks.votes import (
    NIL,
    SignedVote,
    check_certifying_signature,
    check_proposal_signature,
    check_vote_signature,
    proposal_to_value,
    vote_to_value,
)
from chain.encoding import encode
from chain.errors import InvalidBlock, LocalFault, RuleViolation
from chain.staking.validators import ValidatorSet
from chain.state import Overlay
from consensus.election import stake_modifier
from consensus.tendermint import (
    Decision,
    Equivocation,
    NeedProposal,
    Output,
    Proposal,
    Step,
    Tendermint,
    Timeout,
    Timeouts,
    Vote,
)
from consensus.timeliness import is_timely
from node.consensus.blocksync import BlockSync
from node.consensus.events import (
    BuildEvent,
    Event,
    HeightState,
    NextHeight,
    PeerEvent,
    Tick,
    TimerEvent,
    commit_of,
    message_height,
    precommits_for,
)
from node.consensus.evidence import EvidencePool
from node.consensus.gossip import Gossip
from node.consensus.own_messages import OwnMessages
from node.consensus.pace import Pace
from node.consensus.privval import PrivValidator
from node.consensus.relay import CatchingUp, NotRelaying, relay_refusal
from node.consensus.replay import replay_height
from node.consensus.txgossip import TxGossip
from node.consensus.wal import WriteAheadLog
from node.p2p.manager import BadMessage, PeerManager
from node.p2p.messages import (
    Blocks,
    EvidenceMsg,
    GetBlocks,
    Message,
    ProposalMsg,
    Status,
    Txs,
    VoteMsg,
    decode_message,
)
from node.release import check_release
from node.service import NodeService

log = logging.getLogger("gridchain.consensus")

STATUS_INTERVAL = 0.5
STALL_SECONDS = 2.0  # a height this old: resend our votes, sync from peers that are ahead
IDLE_RECHECK_SECONDS = 0.5  # while waiting with an idle proposer, look at its link this often
MAX_FUTURE_MESSAGES = 10_000
HASH_CACHE = 512


class Reactor:
    """The consensus core: one height at a time, every input through one event queue."""

    def __init__(
        self,
        node: NodeService,
        privval: PrivValidator,
        wal: WriteAheadLog,
        timeouts: Timeouts | None = None,
        misbehave: str = "",
        full_nodes: frozenset[bytes] = frozenset(),
    ) -> None:
        self.node = node
        self.privval = privval
        self.wal = wal
        self.timeouts = timeouts or Timeouts()
        self.me = node.key.public_key
        self.gossip = Gossip(full_nodes, self._validators)
        self.txs = TxGossip(node, self.gossip, self._on_work)
        self.blocksync = BlockSync(node, self.gossip, self)
        self.evidence = EvidencePool(node, self.gossip)
        self.own = OwnMessages(node, privval, wal, self.gossip, misbehave)
        self.pace = Pace(node, self.evidence, self.gossip)
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.hs: HeightState | None = None
        self.future: list[PeerEvent] = []
        self._hashes: dict[int, bytes] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._pending_outputs: list[Output] = []  # of entering a height, run by _begin
        self.failure: BaseException | None = None  # why a consensus task stopped the node
        node.on_admitted = self.txs.queue

    @property
    def peers(self) -> PeerManager | None:
        """The peer manager, attached once it is built (it needs this reactor's callbacks)."""
        return self.gossip.peers

    @peers.setter
    def peers(self, peers: PeerManager | None) -> None:
        self.gossip.peers = peers

    # Lifecycle

    async def start(self) -> None:
        records = self.wal.open()
        self._enter_height(self.node.head.height + 1)
        await self._replay(records)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._consume(), name="consensus"),
            loop.create_task(self._ticker(), name="consensus-ticker"),
            loop.create_task(self.txs.flush_loop(), name="tx-gossip"),
            loop.create_task(self.txs.admit_loop(), name="tx-admission"),
        ]
        for task in self._tasks:
            task.add_done_callback(self._on_task_done)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)  # a failure is in self.failure
        self._tasks = []
        self.wal.close()

    def _on_task_done(self, task: "asyncio.Task[None]") -> None:
        """A consensus task must never end: if one fails, stop the whole node, loudly."""
        if task.cancelled() or task.exception() is None:
            return
        self.failure = task.exception()
        log.critical("consensus task %s failed", task.get_name(), exc_info=self.failure)
        os.kill(os.getpid(), signal.SIGTERM)

    @property
    def is_validator(self) -> bool:
        return self.hs is not None and self.hs.vset.power_of(self.me) > 0

    @property
    def height(self) -> int:
        """The height being decided."""
        return self._hs.height

    def status(self) -> dict[str, Any]:
        hs = self.hs
        assert hs is not None
        refusal = self.relay_refusal()
        return {
            "height": hs.height,
            "round": hs.machine.round,
            "step": hs.machine.step.name.lower(),
            "proposer": hs.proposer(hs.machine.round).hex(),
            "validator": self.is_validator,
            "peers": [p.hex() for p in self.gossip.connected()],
            "syncing": self.blocksync.syncing is not None,
            "catching_up": isinstance(refusal, CatchingUp),
            "best_peer_height": self.blocksync.best_peer_height(),
            "quorum_peer_height": self.blocksync.quorum_peer_height(hs.vset),
            "accepting_txs": refusal is None,
            "not_accepting": None
            if refusal is None
            else {"code": refusal.code, "message": refusal.message},
            "pending_evidence": len(self.evidence),
        }

    def relay_refusal(self) -> NotRelaying | None:
        """Why a transaction sent to this node now could not be finalized; None if it can be."""
        hs = self._hs
        connected = self.gossip.connected()
        return relay_refusal(
            hs.vset.power_of(self.me),
            hs.vset.total_power,
            sum(1 for peer in connected if self.gossip.participates(peer)),
            hs.height,
            self.blocksync.quorum_peer_height(hs.vset),
        )

    def _validators(self) -> ValidatorSet:
        return self._hs.vset

    # Peer side

    async def on_peer_message(self, peer: bytes, data: bytes) -> None:
        """Called by the peer manager for every message, in order per peer."""
        try:
            message = decode_message(data)
        except RuleViolation as exc:
            raise BadMessage(exc.message) from None
        if isinstance(message, Txs):
            # Admission has its own queue, so a flood of transactions never delays a vote.
            self.txs.receive(message)
            return
        await self.events.put(PeerEvent(peer, message))

    async def on_peer_connect(self, peer: bytes) -> None:
        if self.hs is not None:
            self.gossip.send(self._status(), to=peer)
        self.txs.welcome(peer)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(STATUS_INTERVAL)
            await self.events.put(Tick())

    # The event loop

    async def _consume(self) -> None:
        while True:
            event = await self.events.get()
            try:
                await self._handle(event)
            except BadMessage as exc:
                if isinstance(event, PeerEvent):
                    self.gossip.disconnect(event.peer, exc.reason)
            except RuleViolation as exc:
                log.warning("event %s failed: %s", type(event).__name__, exc.message)
            except LocalFault as exc:
                # Never vote, build or sync on a guess: stop, with the cause in the log.
                log.critical("local fault, stopping the node: %s (%s)", exc.message, exc.code)
                raise

    async def _handle(self, event: Event) -> None:
        if isinstance(event, PeerEvent):
            await self._on_message(event)
        elif isinstance(event, TimerEvent):
            await self._on_timer(event.timeout)
        elif isinstance(event, BuildEvent):
            await self._on_build(event)
        elif isinstance(event, NextHeight):
            if event.height == self.node.head.height + 1 and self._hs.decided:
                self._gather_late_precommits()
                self._enter_height(event.height)
                await self._drain_future()
        else:
            await self._on_tick()

    @property
    def _hs(self) -> HeightState:
        assert self.hs is not None
        return self.hs

    async def _on_message(self, event: PeerEvent) -> None:
        message, peer = event.message, event.peer
        if isinstance(message, Status):
            await self.blocksync.on_status(peer, message)
            if (
                message.height == self._hs.height
                and self.stalled()
                and self.gossip.participates(peer)
            ):
                self.own.resend(self._hs, peer)
        elif isinstance(message, ProposalMsg):
            await self._on_proposal(message, peer)
        elif isinstance(message, VoteMsg):
            await self._on_vote(message.vote, peer)
        elif isinstance(message, EvidenceMsg):
            self.evidence.on_evidence(message.evidence, self._hs.vset)
        elif isinstance(message, GetBlocks):
            await self.blocksync.serve_blocks(peer, message)
        elif isinstance(message, Blocks):
            await self.blocksync.apply_synced(peer, message)

    # Heights

    def _enter_height(self, height: int) -> None:
        check_release(self.node.store, height)  # never vote at a height of another release
        vset = Overlay(self.node.store).validator_set()
        modifier = stake_modifier(height, self._hash_at)
        machine = Tendermint(self.me, {}, lambda h, r: b"", self.timeouts)
        hs = HeightState(height, vset, modifier, machine, time.monotonic())
        hs.work_since = hs.started if self.pace.has_work() else None
        machine.proposer = lambda _height, round_: hs.proposer(round_)
        self.hs = hs
        powers = {v.public_key: v.blockstake for v in vset.validators}
        self._pending_outputs = machine.start_height(height, powers)

    async def _begin(self) -> None:
        outputs, self._pending_outputs = self._pending_outputs, []
        await self._run_outputs(outputs)

    def _hash_at(self, height: int) -> bytes:
        if height not in self._hashes:
            block_hash = self.node.store.block_hash_at(height)
            if block_hash is None:
                raise InvalidBlock(f"no block at height {height} for the stake modifier")
            self._hashes[height] = block_hash
            if len(self._hashes) > HASH_CACHE:
                del self._hashes[min(self._hashes)]
        return self._hashes[height]

    async def _drain_future(self) -> None:
        await self._begin()
        pending, self.future = self.future, []
        for event in pending:
            if message_height(event.message) == self._hs.height:
                await self._on_message(event)
            elif message_height(event.message) > self._hs.height:
                self.future.append(event)

    def _status(self) -> Status:
        hs = self._hs
        return Status(hs.height, hs.machine.round, int(hs.machine.step))

    def stalled(self) -> bool:
        """Whether the height being decided has not moved for STALL_SECONDS."""
        return time.monotonic() - self._hs.started > STALL_SECONDS

    async def _on_tick(self) -> None:
        self.node.metrics.round.set(self._hs.machine.round)
        self.node.metrics.peers.set(len(self.gossip.connected()))
        self.gossip.send(self._status())
        await self.blocksync.maybe_sync()

    # Inputs to the machine

    async def _on_proposal(self, msg: ProposalMsg, peer: bytes | None) -> None:
        p, hs = msg.proposal, self._hs
        if p.height > hs.height:
            self._defer(peer, msg)
            return
        if p.height < hs.height or p.round in hs.proposals or hs.decided:
            return
        if p.proposer != hs.proposer(p.round):
            raise BadMessage(
                f"proposal for round {p.round} from {p.proposer.hex()[:12]}, not the proposer"
            )
        try:
            check_proposal_signature(self.node.chain_id, p)
            block = decode_block(msg.block, self.node.mempool.by_encoded)
        except RuleViolation as exc:
            raise BadMessage(exc.message) from None
        if block.hash != p.block_hash:
            raise BadMessage("proposal's block does not hash to its block_hash")
        received_ms = int(time.time() * 1000)  # logged: a replay judges its time as we did
        self.wal.append(encode(["proposal", proposal_to_value(p), msg.block, received_ms]))
        hs.proposals[p.round] = msg
        valid = await self._is_valid_proposal(block, p.proposer)
        timely = is_timely(block.header.time_ms, self.node.head.time_ms, received_ms)
        if not timely:
            log.warning(
                "proposal for height %d round %d is dated %d ms after we received it: "
                "prevoting nil (a proposer's clock ahead of ours?)",
                p.height,
                p.round,
                block.header.time_ms - received_ms,
            )
        outputs = hs.machine.on_proposal(
            Proposal(p.height, p.round, p.block_hash, p.valid_round, p.proposer), valid, timely
        )
        await self._run_outputs(outputs)

    async def _is_valid_proposal(self, block: Block, proposer: bytes) -> bool:
        hs = self._hs
        if block.hash in hs.results:
            return True
        if block.hash in hs.invalid:
            return False
        hs.blocks[block.hash] = block
        try:
            if block.header.proposer != proposer:
                raise InvalidBlock("block header names another proposer than the proposal")
            hs.results[block.hash] = await self.node.validate(block)
            return True
        except RuleViolation as exc:
            hs.invalid[block.hash] = exc.message
            log.warning("invalid block at height %d: %s", block.height, exc.message)
            return False

    async def _on_vote(self, vote: SignedVote, peer: bytes | None) -> None:
        hs = self._hs
        if vote.height > hs.height:
            self._defer(peer, VoteMsg(vote))
            return
        validator = hs.vset.get(vote.validator)
        if vote.height < hs.height or validator is None:
            return
        key = (vote.round, vote.vote_type, vote.validator)
        earlier = hs.votes.setdefault(key, [])
        if any(v.block_hash == vote.block_hash for v in earlier) or len(earlier) >= 2:
            return
        try:
            check_vote_signature(self.node.chain_id, vote)
            check_certifying_signature(self.node.chain_id, vote, validator.bls_key)
        except RuleViolation as exc:
            raise BadMessage(exc.message) from None
        self.wal.append(encode(["vote", vote_to_value(vote)]))
        earlier.append(vote)
        value = vote.block_hash if vote.block_hash != NIL else None
        outputs = hs.machine.on_vote(
            Vote(vote.vote_type, vote.height, vote.round, value, vote.validator)
        )
        await self._run_outputs(outputs)

    async def _on_timer(self, timeout: Timeout) -> None:
        hs = self._hs
        if timeout.height != hs.height or timeout.round != hs.machine.round:
            return
        wait = self.pace.idle_proposer_wait(hs, timeout)
        if wait > 0:  # looked at again at least every IDLE_RECHECK seconds
            self._schedule(timeout, min(wait, IDLE_RECHECK_SECONDS))
            return
        self.wal.append(encode(["timeout", int(timeout.step), timeout.height, timeout.round]))
        await self._run_outputs(hs.machine.on_timeout(timeout))

    def _defer(self, peer: bytes | None, message: Message) -> None:
        room = len(self.future) < MAX_FUTURE_MESSAGES
        if peer is not None and room and message_height(message) <= self._hs.height + 1:
            self.future.append(PeerEvent(peer, message))

    # Outputs of the machine

    async def _run_outputs(self, outputs: list[Output]) -> None:
        for out in outputs:
            if isinstance(out, Vote):
                await self.own.vote(self._hs, out)
            elif isinstance(out, Proposal):
                await self.own.repropose(self._hs, out)
            elif isinstance(out, Timeout):
                self._schedule(out)
            elif isinstance(out, NeedProposal):
                await self._need_proposal(out)
            elif isinstance(out, Decision):
                await self._decide(out)
            elif isinstance(out, Equivocation):
                self.evidence.on_equivocation(out, self._hs)

    async def _need_proposal(self, need: NeedProposal) -> None:
        hs = self._hs
        if need.round in hs.proposals:  # our own proposal, replayed from the WAL
            return
        hs.build_pending = (need.height, need.round)
        if self.pace.has_work():
            await self._on_build(BuildEvent(need.height, need.round))
            return
        delay = self.pace.idle_build_delay()
        loop = asyncio.get_running_loop()
        loop.call_later(delay, self.events.put_nowait, BuildEvent(need.height, need.round))

    async def _on_build(self, event: BuildEvent) -> None:
        hs = self._hs
        if hs.build_pending != (event.height, event.round) or hs.height != event.height:
            return
        if hs.machine.round != event.round or hs.machine.step != Step.PROPOSE:
            hs.build_pending = None
            return
        hs.build_pending = None
        result = await self.node.build(int(time.time() * 1000), self.evidence.pending())
        block = result.block
        hs.blocks[block.hash] = block
        hs.results[block.hash] = result
        await self.own.propose(hs, block, event.round, -1)
        await self._run_outputs(hs.machine.propose(block.hash))

    def _schedule(self, timeout: Timeout, seconds: float | None = None) -> None:
        delay = timeout.duration_ms / 1000 if seconds is None else seconds
        loop = asyncio.get_running_loop()
        loop.call_later(delay, self.events.put_nowait, TimerEvent(timeout))

    def _on_work(self) -> None:
        """Transactions arrived: build if we are the waiting proposer; note when, for the wait
        with an idle proposer."""
        hs = self.hs
        if hs is None:
            return
        if hs.work_since is None:
            hs.work_since = time.monotonic()
        if hs.build_pending is not None:
            self.events.put_nowait(BuildEvent(*hs.build_pending))

    async def _decide(self, decision: Decision) -> None:
        hs = self._hs
        result = hs.results.get(decision.value)
        if result is None or hs.decided:
            return
        await self._commit(result, commit_of(hs, decision.round, decision.value))
        self.node.metrics.finality_seconds.observe(time.monotonic() - hs.started)

    def _gather_late_precommits(self) -> None:
        """Precommits for the decided block that arrived after the decision join its commit.

        A decision needs only the first quorum, so without this one live validator would be
        left out of about one commit in four and counted as down. Between the decision and the
        next height (block_interval_ms, cometbft's timeout_commit) late precommits still count,
        and the next block carries all of them as its last commit.
        """
        hs, commit = self._hs, self.node.last_commit
        if commit is None or commit.height != hs.height:
            return
        if precommits_for(hs, commit.round, commit.block_hash) > signer_count(commit):
            # unsynced: the smaller commit is as valid
            self.node.record_commit(commit_of(hs, commit.round, commit.block_hash))

    async def _commit(self, result: BlockResult, commit: Commit) -> None:
        hs = self._hs
        hs.decided = True
        block = result.block
        signed_last = self._signed_last_commit(block)
        await self.node.apply(result, commit)
        self.wal.reset()
        self.pace.block_applied()
        self._hashes[block.height] = block.hash
        self.evidence.forget()
        self.gossip.drop_disallowed()  # peers the chain no longer knows lose their links
        if self.is_validator and not signed_last:
            self.node.metrics.votes_missed.inc()
        log.info("committed block %d (%d txs) round %d", block.height, len(block.txs), commit.round)
        interval = self.node.params.block_interval_ms / 1000
        loop = asyncio.get_running_loop()
        loop.call_later(interval, self.events.put_nowait, NextHeight(block.height + 1))

    def _signed_last_commit(self, block: Block) -> bool:
        """Whether this node's precommit is in the certificate `block` carries for its parent
        (true when it carries none), read against the set that voted on the parent: the
        state's last set until `block` is applied."""
        commit = block.last_commit
        if commit is None:
            return True
        signers = commit_signers(commit, Overlay(self.node.store).last_validator_set())
        return any(v.public_key == self.me for v in signers)

    # Block sync's hooks (blocksync.Deciding)

    async def commit_synced(self, applied: Sequence[tuple[BlockResult, Commit]]) -> None:
        """Blocks others decided were committed by block sync (node.apply_synced)."""
        self._hs.decided = True
        for result, _ in applied:
            self._hashes[result.block.height] = result.block.hash

    async def resume_after_sync(self, applied: int) -> None:
        """Synced blocks were applied: enter the height after them."""
        self.wal.reset()
        self.pace.block_applied()
        self.evidence.forget()
        log.info("synced %d blocks to height %d", applied, self.node.head.height)
        self._enter_height(self.node.head.height + 1)
        await self._drain_future()

    # Replay

    async def _replay(self, records: list[bytes]) -> None:
        """Feed the machine what it saw of this height before the crash, then resume."""
        entered, self._pending_outputs = self._pending_outputs, []
        self._pending_outputs = await replay_height(
            records,
            self._hs,
            entered,
            self.me,
            self.timeouts,
            self._is_valid_proposal,
            self.node.head.time_ms,
        )
        await self._begin()
