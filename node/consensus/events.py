"""What the reactor's event loop consumes, and what it holds about the height being decided."""

from dataclasses import dataclass, field

from chain.blockchain import BlockResult
from chain.blocks.block import Block
from chain.blocks.commit import (
    Commit,
    CommitSig,
    VoteType,
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


def commit_of(hs: HeightState, round_: int, block_hash: bytes) -> Commit:
    """Every precommit this node holds for `block_hash` in `round_`, in validator order."""
    signatures = sorted(
        (
            CommitSig(v.validator, v.signature)
            for (vote_round, vote_type, _), sent in hs.votes.items()
            if vote_round == round_ and vote_type == VoteType.PRECOMMIT
            for v in sent
            if v.block_hash == block_hash
        ),
        key=lambda s: s.validator,
    )
    return Commit(hs.height, round_, block_hash, tuple(signatures))


def message_height(message: Message) -> int:
    if isinstance(message, ProposalMsg):
        return message.proposal.height
    if isinstance(message, VoteMsg):
        return message.vote.height
    return 0
