"""What the reactor's event loop consumes, and what it holds about the height being decided."""

from dataclasses import dataclass, field

from chain.blockchain import BlockResult
from chain.blocks.block import Block
from chain.blocks.commit import (
    Commit,
    VoteType,
    make_commit,
)
from chain.blocks.votes import (
    SignedVote,
)
from chain.staking.validators import ValidatorSet
from consensus.election import proposer as elect_proposer
from consensus.tendermint import (
    Tendermint,
    Timeout,
)
from node.p2p.messages import (
    Message,
    ProposalMsg,
    VoteMsg,
)


@dataclass(frozen=True)
class PeerEvent:
    peer: bytes
    message: Message


@dataclass(frozen=True)
class TimerEvent:
    timeout: Timeout


@dataclass(frozen=True)
class BuildEvent:
    height: int
    round: int


@dataclass(frozen=True)
class NextHeight:
    height: int


@dataclass(frozen=True)
class Tick:
    pass


Event = PeerEvent | TimerEvent | BuildEvent | NextHeight | Tick


@dataclass
class HeightState:
    """Everything consensus holds about the height being decided."""

    height: int
    vset: ValidatorSet
    modifier: bytes
    machine: Tendermint
    started: float
    blocks: dict[bytes, Block] = field(default_factory=dict)
    results: dict[bytes, BlockResult] = field(default_factory=dict)
    invalid: dict[bytes, str] = field(default_factory=dict)
    proposals: dict[int, ProposalMsg] = field(default_factory=dict)
    votes: dict[tuple[int, VoteType, bytes], list[SignedVote]] = field(default_factory=dict)
    own: list[bytes] = field(default_factory=list)  # our signed messages, encoded, to resend
    build_pending: tuple[int, int] | None = None
    work_since: float | None = None  # when transactions first reached the mempool at this height
    decided: bool = False

    def proposer(self, round_: int) -> bytes:
        return elect_proposer(self.vset, self.modifier, self.height, round_)


def _precommits(hs: HeightState, round_: int, block_hash: bytes) -> list[SignedVote]:
    return [
        v
        for (vote_round, vote_type, _), sent in hs.votes.items()
        if vote_round == round_ and vote_type == VoteType.PRECOMMIT
        for v in sent
        if v.block_hash == block_hash
    ]


def precommits_for(hs: HeightState, round_: int, block_hash: bytes) -> int:
    """How many precommits for `block_hash` in `round_` this node holds."""
    return len(_precommits(hs, round_, block_hash))


def commit_of(hs: HeightState, round_: int, block_hash: bytes) -> Commit:
    """The certificate of every precommit this node holds for `block_hash` in `round_` (each
    one's BLS signature was checked when it arrived)."""
    signatures = {v.validator: v.bls_signature for v in _precommits(hs, round_, block_hash)}
    return make_commit(hs.vset, hs.height, round_, block_hash, signatures)


def message_height(message: Message) -> int:
    if isinstance(message, ProposalMsg):
        return message.proposal.height
    if isinstance(message, VoteMsg):
        return message.vote.height
    return 0
