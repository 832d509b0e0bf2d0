"""The evidence pool: proof of equivocation waiting for a block (after cometbft's evidence/).

Evidence comes from the state machine (it saw one validator sign two votes for one height,
round and type) or from a peer (checked: both signatures, and the validator still has power).
Either way it is kept, one per validator, gossiped once, offered to every block this node builds,
and forgotten once the validator is out of the active set (the block that slashed it, or a jail).
"""

import logging

from chain.blocks.evidence import (
    DuplicateVoteEvidence,
    decode_evidence,
    encode_evidence,
    make_evidence,
)
from chain.blocks.votes import check_vote_signature
from chain.errors import RuleViolation
from chain.staking.validators import ValidatorSet
from chain.state import Overlay
from consensus.tendermint import Equivocation
from node.consensus.events import HeightState
from node.consensus.gossip import Gossip
from node.p2p.manager import BadMessage
from node.p2p.messages import EvidenceMsg
from node.service import NodeService

log = logging.getLogger("gridchain.consensus")


class EvidencePool:
    """Pending evidence, by validator, in the order it came."""

    def __init__(self, node: NodeService, gossip: Gossip) -> None:
        self.node = node
        self.gossip = gossip
        self.by_validator: dict[bytes, DuplicateVoteEvidence] = {}

    def __len__(self) -> int:
        return len(self.by_validator)

    def pending(self) -> list[DuplicateVoteEvidence]:
        """What the next block this node builds should carry."""
        return list(self.by_validator.values())

    def on_equivocation(self, eq: Equivocation, hs: HeightState) -> None:
        """The state machine saw two votes of one validator: keep and gossip the signed pair."""
        vote_type = eq.first.kind
        signed = hs.votes.get((eq.first.round, vote_type, eq.first.sender), [])
        if len(signed) < 2 or eq.first.sender in self.by_validator:
            return
        evidence = make_evidence(signed[0], signed[1])
        log.warning(
            "validator %s equivocated at %d/%d",
            eq.first.sender.hex()[:12],
            hs.height,
            eq.first.round,
        )
        self.by_validator[eq.first.sender] = evidence
        self.gossip.send(EvidenceMsg(encode_evidence(evidence)))

    def on_evidence(self, data: bytes, vset: ValidatorSet) -> None:
        """Evidence from a peer, against the validator set of the height being decided."""
        try:
            evidence = decode_evidence(data)
            check_vote_signature(self.node.chain_id, evidence.first)
            check_vote_signature(self.node.chain_id, evidence.second)
        except RuleViolation as exc:
            raise BadMessage(f"bad evidence: {exc.message}") from None
        validator = evidence.first.validator
        if validator in self.by_validator or vset.power_of(validator) == 0:
            return
        log.warning("evidence against %s received", validator.hex()[:12])
        self.by_validator[validator] = evidence
        self.gossip.send(EvidenceMsg(data))

    def forget(self) -> None:
        """After a block: drop evidence against validators out of the active set now."""
        vset = Overlay(self.node.store).validator_set()
        for validator in sorted(self.by_validator):
            if vset.power_of(validator) == 0:
                del self.by_validator[validator]
