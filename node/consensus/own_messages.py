"""Our own proposals and votes: signed, logged, then sent, and kept to send again.

The order here is the crash-recovery promise (docs/consensus.md): a signature comes only from
the double-sign-safe signer (privval.py), which persists it first; it is fsynced to the WAL
before it leaves the process; then it is kept with the height (to resend to a peer when the
height stalls) and gossiped. A vote already in the WAL, replayed after a crash, is sent again
as it was, never signed anew. It is apart from the reactor so that this order is in one place.
"""

import logging

from chain.blocks.block import Block, encode_block
from chain.blocks.commit import VoteType
from chain.blocks.votes import NIL, proposal_to_value, sign_vote, vote_to_value
from chain.encoding import encode
from consensus.double_sign import DoubleSignRefused
from consensus.tendermint import Proposal, Vote
from node.consensus.events import HeightState
from node.consensus.gossip import Gossip
from node.consensus.privval import PrivValidator
from node.consensus.wal import WriteAheadLog
from node.p2p.messages import ProposalMsg, VoteMsg, encode_message
from node.service import NodeService

log = logging.getLogger("gridchain.consensus")


class OwnMessages:
    """Signs, logs and sends what the state machine asks this validator to say."""

    def __init__(
        self,
        node: NodeService,
        privval: PrivValidator,
        wal: WriteAheadLog,
        gossip: Gossip,
        misbehave: str = "",
    ) -> None:
        self.node = node
        self.privval = privval
        self.wal = wal
        self.gossip = gossip
        self.misbehave = misbehave  # test-only misbehaviour: "double-prevote"
        self.me = node.key.public_key
        self._refused_at = -1  # the height whose refusal to vote was last logged

    def may_vote(self, hs: HeightState) -> bool:
        """We are in the height's set, under the BLS key the chain holds for us: a precommit
        under another key (a key file swapped after joining) fails every peer's check and its
        signature cannot enter a certificate, so such a node says why and stays silent."""
        mine = hs.vset.get(self.me)
        if mine is None or mine.blockstake <= 0:
            return False
        if mine.bls_key != self.privval.bls_key.public_key:
            if self._refused_at != hs.height:
                self._refused_at = hs.height
                log.error(
                    "not voting at height %d: the chain holds BLS key %s for this validator, "
                    "its key file derives %s",
                    hs.height,
                    mine.bls_key.hex(),
                    self.privval.bls_key.public_key.hex(),
                )
            return False
        return True

    async def vote(self, hs: HeightState, vote: Vote) -> None:
        """Cast a vote the machine asks for, if it is ours and we may vote."""
        if vote.sender != self.me or not self.may_vote(hs):
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
        self.gossip.gossip(data)
        if self.misbehave == "double-prevote" and vote_type == VoteType.PREVOTE and block_hash:
            twin = sign_vote(  # bypasses the safe signer on purpose: test-only misbehaviour
                self.node.key, self.node.chain_id, vote_type, vote.height, vote.round, NIL
            )
            log.warning("misbehaving: double prevote at %d/%d", vote.height, vote.round)
            self.gossip.send(VoteMsg(twin))

    async def repropose(self, hs: HeightState, p: Proposal) -> None:
        """The machine re-proposes its valid value in a later round."""
        block = hs.blocks.get(p.value)
        if block is None or p.round in hs.proposals:
            return
        await self.propose(hs, block, p.round, p.valid_round)

    async def propose(self, hs: HeightState, block: Block, round_: int, valid_round: int) -> None:
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
        self.gossip.gossip(data)

    def resend(self, hs: HeightState, peer: bytes) -> None:
        """Everything we said at this height, again, to a peer deciding it with us."""
        for data in hs.own:
            self.gossip.send_encoded(peer, data)
