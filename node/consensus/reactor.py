"""The consensus reactor: drives the Tendermint state machine with the real world.

It feeds the machine (consensus/tendermint.py) with checked proposals and votes from peers and
with fired timers, and carries out what the machine asks: sign (through the double-sign-safe
signer), log to the write-ahead log, send, build or validate a block, commit a decision. One task
consumes every event in order, so the machine never sees two inputs at once.

Crash recovery: every input of the current height is written to the WAL before the machine sees
it, and our own proposals and votes are fsynced before they leave the process. On restart the
node replays the WAL of the height after its head and resumes in the round it was in.

Block sync: a peer whose status shows it ahead is asked for blocks with their commits; each commit
is checked against the validator set before its block is validated and applied.

Peers of two kinds: those that take part in consensus (validators of the height being decided,
and the configured full nodes) get proposals, votes, evidence and transactions; followers
(validators out of the active set, jailed ones among them) get only status and the blocks they
ask for, so they can catch up, send transactions, and rejoin once unjailed.
"""

import asyncio
import logging
import os
import signal
import time
from typing import Any

from chain.blockchain import BlockResult
from chain.blocks.block import Block, decode_block, encode_block
from chain.blocks.commit import (
    Commit,
    VoteType,
    decode_commit,
    encode_commit,
    verify_commit,
)
from chain.blocks.evidence import (
    DuplicateVoteEvidence,
    decode_evidence,
    encode_evidence,
    make_evidence,
)
from chain.blocks.votes import (
    NIL,
    SignedVote,
    check_proposal_signature,
    check_vote_signature,
    proposal_to_value,
    sign_vote,
    vote_to_value,
)
from chain.encoding import encode
from chain.errors import InvalidBlock, LocalFault, RuleViolation
from chain.ledger.transactions import SignedTx
from chain.state import Overlay
from consensus.double_sign import DoubleSignRefused
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
)
from node.consensus.privval import PrivValidator
from node.consensus.relay import CatchingUp, NotRelaying, quorum_height, relay_refusal
from node.consensus.replay import decode_record
from node.consensus.wal import WriteAheadLog
from node.p2p.manager import BadMessage, PeerManager
from node.p2p.messages import (
    MAX_TXS_PER_MESSAGE,
    Blocks,
    EvidenceMsg,
    GetBlocks,
    Message,
    ProposalMsg,
    Status,
    Txs,
    VoteMsg,
    decode_message,
    encode_message,
)
from node.service import NodeService

log = logging.getLogger("gridchain.consensus")

STATUS_INTERVAL = 0.5
STALL_SECONDS = 2.0  # a height this old: resend our votes, sync from peers that are ahead
IDLE_RECHECK_SECONDS = 0.5  # while waiting with an idle proposer, look at its link this often
SYNC_BATCH = 200
SYNC_BYTES = 8 * 1024 * 1024
SYNC_TIMEOUT = 5.0
TX_FLUSH_SECONDS = 0.02
TX_BATCH_BYTES = 4 * 1024 * 1024
MAX_TX_BATCHES_WAITING = 500  # beyond this, gossiped batches are dropped (origins keep them)
MAX_FUTURE_MESSAGES = 10_000
HASH_CACHE = 512


class Reactor:
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
        self.full_nodes = full_nodes
        self.privval = privval
        self.wal = wal
        self.timeouts = timeouts or Timeouts()
        self.misbehave = misbehave
        self.me = node.key.public_key
        self.peers: PeerManager | None = None
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.tx_inbox: asyncio.Queue[Txs] = asyncio.Queue()
        self.hs: HeightState | None = None
        self.future: list[PeerEvent] = []
        self.peer_status: dict[bytes, tuple[Status, float]] = {}
        self.syncing: tuple[bytes, float] | None = None
        self.evidence: dict[bytes, DuplicateVoteEvidence] = {}  # by validator
        self.tx_outbox: list[bytes] = []
        self.last_block_at = time.monotonic()
        self._hashes: dict[int, bytes] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._pending_outputs: list[Output] = []  # of entering a height, run by _begin
        self._replay_outputs: list[Output] = []
        self.failure: BaseException | None = None  # why a consensus task stopped the node
        node.on_admitted = self._queue_tx

    # Lifecycle

    async def start(self) -> None:
        records = self.wal.open()
        self._enter_height(self.node.head.height + 1)
        await self._replay(records)
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._consume(), name="consensus"),
            loop.create_task(self._ticker(), name="consensus-ticker"),
            loop.create_task(self._flush_txs(), name="tx-gossip"),
            loop.create_task(self._admit_loop(), name="tx-admission"),
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
            "peers": [p.hex() for p in self.peers.connected()] if self.peers else [],
            "syncing": self.syncing is not None,
            "catching_up": isinstance(refusal, CatchingUp),
            "best_peer_height": self._best_peer_height(),
            "quorum_peer_height": self._quorum_peer_height(),
            "accepting_txs": refusal is None,
            "not_accepting": None
            if refusal is None
            else {"code": refusal.code, "message": refusal.message},
            "pending_evidence": len(self.evidence),
        }

    def relay_refusal(self) -> NotRelaying | None:
        """Why a transaction sent to this node now could not be finalized; None if it can be."""
        hs = self._hs
        connected = self.peers.connected() if self.peers else []
        return relay_refusal(
            hs.vset.power_of(self.me),
            hs.vset.total_power,
            sum(1 for peer in connected if self._participates(peer)),
            hs.height,
            self._quorum_peer_height(),
        )

    def _best_peer_height(self) -> int | None:
        """The highest height a connected peer is deciding, by its last status."""
        connected = set(self.peers.connected()) if self.peers else set()
        heights = [s.height for key, (s, _) in self.peer_status.items() if key in connected]
        return max(heights, default=None)

    def _quorum_peer_height(self) -> int | None:
        """The height connected validators with more than 1/3 of the stake have reached."""
        hs = self._hs
        connected = set(self.peers.connected()) if self.peers else set()
        reports = [
            (status.height, hs.vset.power_of(key))
            for key, (status, _) in self.peer_status.items()
            if key in connected
        ]
        return quorum_height(reports, hs.vset.total_power)

    def _participates(self, peer: bytes) -> bool:
        """Whether `peer` takes part in consensus gossip (else it only follows blocks)."""
        return peer in self.full_nodes or self._hs.vset.power_of(peer) > 0

    def _gossip(self, data: bytes) -> None:
        """Send a consensus message or transactions to the peers that take part."""
        if self.peers is None:
            return
        for peer in self.peers.connected():
            if self._participates(peer):
                self.peers.send(peer, data)

    # Peer side

    async def on_peer_message(self, peer: bytes, data: bytes) -> None:
        """Called by the peer manager for every message, in order per peer."""
        try:
            message = decode_message(data)
        except RuleViolation as exc:
            raise BadMessage(exc.message) from None
        if isinstance(message, Txs):
            # Admission has its own queue, so a flood of transactions never delays a vote.
            if self.tx_inbox.qsize() < MAX_TX_BATCHES_WAITING:
                self.tx_inbox.put_nowait(message)
            return
        await self.events.put(PeerEvent(peer, message))

    async def on_peer_connect(self, peer: bytes) -> None:
        if self.peers is not None and self.hs is not None:
            self.peers.send(peer, encode_message(self._status()))

    def _send(self, message: Message, to: bytes | None = None) -> None:
        """To one peer, or (with no `to`) status to all and everything else to participants."""
        if self.peers is None:
            return
        data = encode_message(message)
        if to is not None:
            self.peers.send(to, data)
        elif isinstance(message, Status):
            self.peers.broadcast(data)
        else:
            self._gossip(data)

    def _queue_tx(self, tx: SignedTx) -> None:
        self.tx_outbox.append(tx.encoded)
        self._on_work()

    async def _flush_txs(self) -> None:
        while True:
            await asyncio.sleep(TX_FLUSH_SECONDS)
            batch: list[bytes] = []
            size = 0
            for raw in self.tx_outbox:  # messages stay far below the peer message limit
                if batch and (
                    size + len(raw) > TX_BATCH_BYTES or len(batch) >= MAX_TXS_PER_MESSAGE
                ):
                    self._send(Txs(tuple(batch)))
                    batch, size = [], 0
                batch.append(raw)
                size += len(raw)
            if batch:
                self._send(Txs(tuple(batch)))
            self.tx_outbox = []

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
                if isinstance(event, PeerEvent) and self.peers is not None:
                    self.peers.disconnect(event.peer, exc.reason)
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
            self.peer_status[peer] = (message, time.monotonic())
            await self._maybe_sync()
            if message.height == self._hs.height and self._stalled() and self._participates(peer):
                for data in self._hs.own:
                    if self.peers is not None:
                        self.peers.send(peer, data)
        elif isinstance(message, ProposalMsg):
            await self._on_proposal(message, peer)
        elif isinstance(message, VoteMsg):
            await self._on_vote(message.vote, peer)
        elif isinstance(message, EvidenceMsg):
            self._on_evidence(message.evidence)
        elif isinstance(message, GetBlocks):
            await self._serve_blocks(peer, message)
        elif isinstance(message, Blocks):
            await self._apply_synced(peer, message)

    async def _admit_loop(self) -> None:
        while True:
            message = await self.tx_inbox.get()
            results = await self.node.submit_many(list(message.raw), relay=False)  # peers have them
            if any(r.error is None for r in results):
                self._on_work()

    # Heights

    def _enter_height(self, height: int) -> None:
        vset = Overlay(self.node.store).validator_set()
        modifier = stake_modifier(height, self._hash_at)
        machine = Tendermint(self.me, {}, lambda h, r: b"", self.timeouts)
        hs = HeightState(height, vset, modifier, machine, time.monotonic())
        hs.work_since = hs.started if self._has_work() else None
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

    def _stalled(self) -> bool:
        return time.monotonic() - self._hs.started > STALL_SECONDS

    async def _on_tick(self) -> None:
        self.node.metrics.round.set(self._hs.machine.round)
        self.node.metrics.peers.set(len(self.peers.connected()) if self.peers else 0)
        self._send(self._status())
        await self._maybe_sync()

    # Inputs to the machine

    async def _on_proposal(
        self, msg: ProposalMsg, peer: bytes | None, replay: bool = False
    ) -> None:
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
        if not replay:
            self.wal.append(encode(["proposal", proposal_to_value(p), msg.block]))
        hs.proposals[p.round] = msg
        valid = await self._check_block(block, p.proposer)
        outputs = hs.machine.on_proposal(
            Proposal(p.height, p.round, p.block_hash, p.valid_round, p.proposer), valid
        )
        await self._run_outputs(outputs)

    async def _check_block(self, block: Block, proposer: bytes) -> bool:
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

    async def _on_vote(self, vote: SignedVote, peer: bytes | None, replay: bool = False) -> None:
        hs = self._hs
        if vote.height > hs.height:
            self._defer(peer, VoteMsg(vote))
            return
        if vote.height < hs.height or hs.vset.power_of(vote.validator) == 0:
            return
        key = (vote.round, vote.vote_type, vote.validator)
        earlier = hs.votes.setdefault(key, [])
        if any(v.block_hash == vote.block_hash for v in earlier) or len(earlier) >= 2:
            return
        try:
            check_vote_signature(self.node.chain_id, vote)
        except RuleViolation as exc:
            raise BadMessage(exc.message) from None
        if not replay:
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
        wait = self._idle_proposer_wait(timeout)
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
                await self._cast(out)
            elif isinstance(out, Proposal):
                await self._repropose(out)
            elif isinstance(out, Timeout):
                self._schedule(out)
            elif isinstance(out, NeedProposal):
                await self._need_proposal(out)
            elif isinstance(out, Decision):
                await self._decide(out)
            elif isinstance(out, Equivocation):
                self._on_equivocation(out)

    async def _cast(self, vote: Vote) -> None:
        hs = self._hs
        if not self.is_validator or vote.sender != self.me:
            return
        vote_type = vote.kind
        block_hash = vote.value if vote.value is not None else NIL
        key = (vote.round, vote_type, self.me)
        existing = [v for v in hs.votes.get(key, []) if v.block_hash == block_hash]
        if existing:  # replayed from the WAL: already signed and logged
            signed = existing[0]
        else:
            try:
                signed = self.privval.sign_vote(
                    self.node.chain_id, vote_type, vote.height, vote.round, block_hash
                )
            except DoubleSignRefused as exc:
                log.error("refused to sign: %s", exc.message)
                return
            self.wal.append(encode(["vote", vote_to_value(signed)]), sync=True)
            hs.votes.setdefault(key, []).append(signed)
        data = encode_message(VoteMsg(signed))
        hs.own.append(data)
        self._gossip(data)
        if self.misbehave == "double-prevote" and vote_type == VoteType.PREVOTE and block_hash:
            twin = sign_vote(  # bypasses the safe signer on purpose: test-only misbehaviour
                self.node.key, self.node.chain_id, vote_type, vote.height, vote.round, NIL
            )
            log.warning("misbehaving: double prevote at %d/%d", vote.height, vote.round)
            self._send(VoteMsg(twin))

    async def _repropose(self, p: Proposal) -> None:
        """The machine re-proposes its valid value in a later round."""
        hs = self._hs
        block = hs.blocks.get(p.value)
        if block is None or p.round in hs.proposals:
            return
        await self._publish_proposal(block, p.round, p.valid_round)

    async def _publish_proposal(self, block: Block, round_: int, valid_round: int) -> None:
        hs = self._hs
        try:
            signed = self.privval.sign_proposal(
                self.node.chain_id, hs.height, round_, valid_round, block.hash
            )
        except DoubleSignRefused as exc:
            log.error("refused to sign: %s", exc.message)
            return
        raw = encode_block(block)
        self.wal.append(encode(["proposal", proposal_to_value(signed), raw]), sync=True)
        msg = ProposalMsg(signed, raw)
        hs.proposals[round_] = msg
        data = encode_message(msg)
        hs.own.append(data)
        self._gossip(data)

    async def _need_proposal(self, need: NeedProposal) -> None:
        hs = self._hs
        if need.round in hs.proposals:  # our own proposal, replayed from the WAL
            return
        hs.build_pending = (need.height, need.round)
        if self._has_work():
            await self._on_build(BuildEvent(need.height, need.round))
            return
        idle = self.node.genesis.params.empty_block_interval_ms / 1000
        delay = max(0.0, idle - (time.monotonic() - self.last_block_at))
        loop = asyncio.get_running_loop()
        loop.call_later(delay, self.events.put_nowait, BuildEvent(need.height, need.round))

    def _has_work(self) -> bool:
        return len(self.node.mempool) > 0 or bool(self.evidence)

    async def _on_build(self, event: BuildEvent) -> None:
        hs = self._hs
        if hs.build_pending != (event.height, event.round) or hs.height != event.height:
            return
        if hs.machine.round != event.round or hs.machine.step != Step.PROPOSE:
            hs.build_pending = None
            return
        hs.build_pending = None
        result = await self.node.build(int(time.time() * 1000), list(self.evidence.values()))
        block = result.block
        hs.blocks[block.hash] = block
        hs.results[block.hash] = result
        await self._publish_proposal(block, event.round, -1)
        await self._run_outputs(hs.machine.propose(block.hash))

    def _schedule(self, timeout: Timeout, seconds: float | None = None) -> None:
        delay = timeout.duration_ms / 1000 if seconds is None else seconds
        loop = asyncio.get_running_loop()
        loop.call_later(delay, self.events.put_nowait, TimerEvent(timeout))

    def _idle_proposer_wait(self, timeout: Timeout) -> float:
        """How much longer a fired round-0 propose timeout waits for an idle proposer (0: none).

        An idle proposer waits for work up to empty_block_interval_ms before proposing an
        empty block, so the others wait with it. Decided each time the timer fires, from what
        holds then: once transactions are here (the proposer has them too, by gossip) it gets
        the ordinary timeout from when they came, and a proposer we have no link to (dead,
        paused, cut off) gets no extra wait at all.
        """
        hs = self._hs
        if timeout.step != Step.PROPOSE or timeout.round != 0 or hs.machine.step != Step.PROPOSE:
            return 0.0
        now = time.monotonic()
        if self._has_work():
            if hs.work_since is None:  # work we were not told of (evidence, say): from now
                hs.work_since = now
            return max(0.0, hs.work_since + timeout.duration_ms / 1000 - now)
        proposer = hs.proposer(0)
        if proposer != self.me and (self.peers is None or proposer not in self.peers.connected()):
            return 0.0
        idle_ms = timeout.duration_ms + self.node.genesis.params.empty_block_interval_ms
        return max(0.0, hs.started + idle_ms / 1000 - now)

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

    def _on_equivocation(self, eq: Equivocation) -> None:
        hs = self._hs
        vote_type = eq.first.kind
        signed = hs.votes.get((eq.first.round, vote_type, eq.first.sender), [])
        if len(signed) < 2 or eq.first.sender in self.evidence:
            return
        evidence = make_evidence(signed[0], signed[1])
        log.warning(
            "validator %s equivocated at %d/%d",
            eq.first.sender.hex()[:12],
            hs.height,
            eq.first.round,
        )
        self.evidence[eq.first.sender] = evidence
        self._send(EvidenceMsg(encode_evidence(evidence)))

    def _on_evidence(self, data: bytes) -> None:
        try:
            evidence = decode_evidence(data)
            check_vote_signature(self.node.chain_id, evidence.first)
            check_vote_signature(self.node.chain_id, evidence.second)
        except RuleViolation as exc:
            raise BadMessage(f"bad evidence: {exc.message}") from None
        validator = evidence.first.validator
        if validator in self.evidence or self._hs.vset.power_of(validator) == 0:
            return
        log.warning("evidence against %s received", validator.hex()[:12])
        self.evidence[validator] = evidence
        self._send(EvidenceMsg(data))

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
        gathered = commit_of(hs, commit.round, commit.block_hash)
        if len(gathered.signatures) > len(commit.signatures):
            self.node.record_commit(gathered)  # unsynced: the smaller commit is as valid

    async def _commit(self, result: BlockResult, commit: Commit) -> None:
        hs = self._hs
        hs.decided = True
        block = result.block
        await self.node.apply(result, commit)
        self.wal.reset()
        self.last_block_at = time.monotonic()
        self._hashes[block.height] = block.hash
        self._forget_evidence()
        if self.peers is not None:
            self.peers.drop_disallowed()  # peers the chain no longer knows lose their links
        self._count_missed(block)
        log.info("committed block %d (%d txs) round %d", block.height, len(block.txs), commit.round)
        interval = self.node.genesis.params.block_interval_ms / 1000
        loop = asyncio.get_running_loop()
        loop.call_later(interval, self.events.put_nowait, NextHeight(block.height + 1))

    def _forget_evidence(self) -> None:
        vset = Overlay(self.node.store).validator_set()
        for validator in sorted(self.evidence):
            if vset.power_of(validator) == 0:
                del self.evidence[validator]

    def _count_missed(self, block: Block) -> None:
        commit = block.last_commit
        signed = commit is not None and any(s.validator == self.me for s in commit.signatures)
        if commit is not None and self.is_validator and not signed:
            self.node.metrics.votes_missed.inc()

    # Block sync

    async def _maybe_sync(self) -> None:
        now = time.monotonic()
        if self.syncing is not None and now - self.syncing[1] < SYNC_TIMEOUT:
            return
        hs = self._hs
        connected = set(self.peers.connected()) if self.peers else set()
        ahead = sorted(
            (status.height, peer)
            for peer, (status, _) in self.peer_status.items()
            if peer in connected and status.height > hs.height
        )
        if not ahead:
            self.syncing = None
            return
        best, peer = ahead[-1]
        if best - hs.height < 2 and not self._stalled() and self.is_validator:
            # The peer just decided first; our own decision is likely on its way. (A follower
            # hears no votes, so it asks as soon as a peer is one block ahead.)
            return
        self.syncing = (peer, now)
        self._send(GetBlocks(self.node.head.height + 1, SYNC_BATCH), to=peer)

    async def _serve_blocks(self, peer: bytes, request: GetBlocks) -> None:
        store = self.node.store

        def read() -> list[tuple[bytes, bytes]]:
            items: list[tuple[bytes, bytes]] = []
            size = 0
            for height in range(request.start, request.start + request.count):
                block_hash = store.block_hash_at(height)
                commit = store.commit_at(height)
                raw = store.block_bytes(block_hash) if block_hash else None
                if raw is None or commit is None:
                    break
                encoded = encode_commit(commit)
                size += len(raw) + len(encoded)
                if items and size > SYNC_BYTES:
                    break
                items.append((raw, encoded))
            return items

        items = await asyncio.to_thread(read)
        self._send(Blocks(tuple(items)), to=peer)

    async def _apply_synced(self, peer: bytes, message: Blocks) -> None:
        if self.syncing is None or self.syncing[0] != peer:
            return
        applied = 0
        for raw_block, raw_commit in message.items:
            try:
                block = decode_block(raw_block)
                commit = decode_commit(raw_commit)
            except RuleViolation as exc:
                raise BadMessage(f"synced block: {exc.message}") from None
            if block.height != self.node.head.height + 1:
                break
            vset = Overlay(self.node.store).validator_set()
            try:
                verify_commit(self.node.chain_id, vset, commit, block.header)
            except RuleViolation as exc:
                raise BadMessage(f"synced block {block.height}: {exc.message}") from None
            result = await self.node.validate(block)
            self._hs.decided = True
            await self.node.apply(result, commit)
            self._hashes[block.height] = block.hash
            applied += 1
            self.node.metrics.synced_blocks.inc()
        self.syncing = None
        if applied:
            self.wal.reset()
            self.last_block_at = time.monotonic()
            self._forget_evidence()
            log.info("synced %d blocks to height %d", applied, self.node.head.height)
            self._enter_height(self.node.head.height + 1)
            await self._drain_future()
            await self._maybe_sync()

    # Replay

    async def _replay(self, records: list[bytes]) -> None:
        """Feed the machine what it saw of this height before the crash, then resume."""
        height = self._hs.height
        inputs = [r for r in (decode_record(raw) for raw in records) if r is not None]
        inputs = [r for r in inputs if r[0] == height]
        outputs, self._pending_outputs = self._pending_outputs, []
        deferred: list[Output] = list(outputs)
        for _, kind, payload in inputs:
            if kind == "proposal":
                proposal, raw = payload
                await self._replay_proposal(ProposalMsg(proposal, raw))
            elif kind == "vote":
                await self._replay_vote(payload)
            else:
                step, round_ = payload
                timeout = Timeout(Step(step), height, round_, self.timeouts.of(Step(step), round_))
                if round_ == self._hs.machine.round:
                    deferred += self._hs.machine.on_timeout(timeout)
        if inputs:
            log.info(
                "replayed %d WAL records of height %d; resuming in round %d",
                len(inputs),
                height,
                self._hs.machine.round,
            )
        self._pending_outputs = deferred + self._replay_outputs
        self._replay_outputs = []
        await self._begin()

    async def _replay_proposal(self, msg: ProposalMsg) -> None:
        hs, p = self._hs, msg.proposal
        if p.round in hs.proposals:
            return
        block = decode_block(msg.block)
        hs.proposals[p.round] = msg
        valid = await self._check_block(block, p.proposer)
        if p.proposer == self.me:
            hs.own.append(encode_message(msg))
        self._replay_outputs += hs.machine.on_proposal(
            Proposal(p.height, p.round, p.block_hash, p.valid_round, p.proposer), valid
        )

    async def _replay_vote(self, vote: SignedVote) -> None:
        hs = self._hs
        key = (vote.round, vote.vote_type, vote.validator)
        earlier = hs.votes.setdefault(key, [])
        if any(v.block_hash == vote.block_hash for v in earlier):
            return
        earlier.append(vote)
        if vote.validator == self.me:
            hs.own.append(encode_message(VoteMsg(vote)))
        value = vote.block_hash if vote.block_hash != NIL else None
        self._replay_outputs += hs.machine.on_vote(
            Vote(vote.vote_type, vote.height, vote.round, value, vote.validator)
        )
