"""The council decides on chain: a member proposes, the others approve, and the proposal
executes in the block where the approvals satisfy the council's policy.

Who. The council is the multisig policy of the council account (genesis `council`, changed by
that account's own `update_multisig`). A member is a signer of that policy; a member proposes
and approves from their own key account, paying the fee from it, so a proposal gathers its
approvals without any shared machine or file. The policy is read when the approvals are
counted: a key that has left the council no longer counts, a member's weight is the policy's.

When. A proposal is open from the block that holds it until `expires_after` (that block's
height plus the proposer's `voting_blocks`); the first block after that closes it as expired.
The approval that satisfies the policy executes it in its own transaction; if the proposal no
longer applies (a parameter combination the chain refuses, a validator change overtaken), it
closes as failed, with the reason, and changes nothing. A proposal is checked when it is
submitted too, so the council is not asked to approve what cannot apply.

Every step is an audit entry of the council's account: proposal_submitted,
proposal_approved, proposal_executed, proposal_failed, proposal_expired, and upgrade_switched
when a planned release takes over.
"""

from dataclasses import replace

from chain.address import AddressType, key_address
from chain.encoding import encode
from chain.env import BlockEnv
from chain.errors import InvalidTransaction, PolicyNotSatisfied, RuleViolation, present
from chain.genesis_state import COUNCIL_ADDRESS
from chain.governance.params import apply_pending_params, change_params, planned_params
from chain.governance.proposals import (
    EXECUTED,
    EXPIRED,
    FAILED,
    MAX_OPEN,
    MAX_OPEN_PER_MEMBER,
    MAX_REASON,
    OPEN,
    Proposal,
    open_index,
    read_proposal,
    remember,
    write_open_index,
    write_proposal,
)
from chain.governance.txs import (
    GovApprove,
    GovPropose,
    ParamsChange,
    ProposalContent,
    RewardsChange,
    TextProposal,
    UpgradePlan,
    ValidatorsChange,
    content_kind,
    content_to_value,
)
from chain.governance.upgrade import (
    PLAN_KEY,
    RELEASE_KEY,
    release_record,
    set_upgrade_plan,
    upgrade_plan,
)
from chain.ledger.policy import Policy, require_satisfied
from chain.ledger.transactions import SignedTx, payload_as
from chain.staking.council import (
    apply_change,
    check_change,
    council_entry,
    decide_change,
    pending_changes,
    projected,
    read_roster,
)
from chain.state import Overlay


class NotCouncilMember(InvalidTransaction):
    code = "not_council_member"


class UnknownProposal(InvalidTransaction):
    code = "unknown_proposal"


class ProposalClosed(InvalidTransaction):
    code = "proposal_closed"


class AlreadyApproved(InvalidTransaction):
    code = "already_approved"


class TooManyProposals(InvalidTransaction):
    code = "too_many_proposals"


class InvalidProposal(InvalidTransaction):
    code = "invalid_proposal"


# Who


def council_policy(state: Overlay) -> Policy:
    account = present(state.account(COUNCIL_ADDRESS), "the council account")
    return present(account.policy, "the council's policy")


def member_key(state: Overlay, tx: SignedTx) -> bytes:
    """The council member sending `tx`: a key account whose key the council's policy lists."""
    sender = tx.body.sender
    if sender.type != AddressType.KEY:
        raise NotCouncilMember("proposals and approvals come from a member's own key account")
    key = tx.signers[0]
    if key not in {s.public_key for s in council_policy(state).signers}:
        raise NotCouncilMember(f"{sender} is not a member of the council")
    return key


def is_satisfied(policy: Policy, approvals: tuple[bytes, ...]) -> bool:
    """Whether the approvals of those still in the council meet its policy."""
    members = {s.public_key for s in policy.signers}
    try:
        require_satisfied(policy, [k for k in approvals if k in members])
    except PolicyNotSatisfied:
        return False
    return True


# What


def param_changes(content: ParamsChange | RewardsChange) -> dict[str, int]:
    if isinstance(content, RewardsChange):
        return {
            "reward_per_gib": content.reward_per_gib,
            "reward_per_core": content.reward_per_core,
        }
    return dict(content.changes)


def check_content(env: BlockEnv, state: Overlay, content: ProposalContent) -> None:
    """Raise the rule error that stops `content` applying now."""
    if isinstance(content, ParamsChange | RewardsChange):
        planned_params(state, param_changes(content))
    elif isinstance(content, ValidatorsChange):
        roster = projected(read_roster(state), pending_changes(state))
        for change in content.changes:
            check_change(roster, change)
            roster = apply_change(roster, change)
    elif isinstance(content, UpgradePlan) and content.height <= env.height:
        raise InvalidProposal(
            f"upgrade height {content.height} is not after this block ({env.height})"
        )


def execute(env: BlockEnv, state: Overlay, proposal: Proposal) -> None:
    """Apply `proposal`, checked again as it applies (change_params and decide_change check
    what they change themselves), or raise the rule error that stops it."""
    content = proposal.content
    if isinstance(content, ParamsChange | RewardsChange):
        change_params(state, param_changes(content))
    elif isinstance(content, ValidatorsChange):
        for change in content.changes:  # each against the pending changes before it
            decide_change(env, state, proposal.id, change)
    elif isinstance(content, UpgradePlan):
        check_content(env, state, content)
        set_upgrade_plan(state, content)
    else:
        assert isinstance(content, TextProposal)  # said, and recorded: nothing to change


# The audit log


def record(env: BlockEnv, state: Overlay, topic: str, proposal: Proposal, **extra: object) -> None:
    """An audit entry of the council's account about `proposal` (a transaction's entries get
    its index and id when the transaction is applied)."""
    data = encode({"id": proposal.id, "kind": content_kind(proposal.content), **extra})
    council_entry(env, state, topic, data)


# The transaction rules


def propose(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    payload = payload_as(tx, GovPropose)
    member = member_key(state, tx)
    opened = open_index(state)
    if len(opened) >= MAX_OPEN:
        raise TooManyProposals(f"the council already has {MAX_OPEN} open proposals")
    mine = [i for _, i in opened if open_proposal(state, i).proposer == member]
    if len(mine) >= MAX_OPEN_PER_MEMBER:
        raise TooManyProposals(
            f"{key_address(member)} already has {MAX_OPEN_PER_MEMBER} open proposals: one "
            "member cannot fill the council's agenda"
        )
    check_content(env, state, payload.content)
    proposal = Proposal(
        id=tx.id,
        proposer=member,
        title=payload.title,
        content=payload.content,
        submitted_at=env.height,
        expires_after=env.height + payload.voting_blocks,
        approvals=(member,),
    )
    record(
        env,
        state,
        "proposal_submitted",
        proposal,
        title=proposal.title,
        content=content_to_value(proposal.content),
        proposer=member,
        expires_after=proposal.expires_after,
    )
    write_open_index(state, (*opened, (proposal.expires_after, proposal.id)))
    remember(state, proposal.id)
    settle(env, state, proposal)


def approve(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    payload = payload_as(tx, GovApprove)
    member = member_key(state, tx)
    proposal = read_proposal(state, payload.proposal)
    if proposal is None:
        raise UnknownProposal(f"no proposal {payload.proposal.hex()}")
    if proposal.status != OPEN:
        raise ProposalClosed(
            f"proposal {proposal.id.hex()} is {proposal.status} since block {proposal.closed_at}"
        )
    policy = council_policy(state)
    if member in proposal.approvals:
        if not is_satisfied(policy, proposal.approvals):
            raise AlreadyApproved(f"{key_address(member)} already approved {proposal.id.hex()}")
        # The council's policy changed (a lower threshold) and its approvals now suffice:
        # approving again executes it.
        settle(env, state, proposal)
        return
    # Only members count, and only members are kept: a proposal holds at most a policy's
    # signers, however often the council changes.
    members = {s.public_key for s in policy.signers}
    approvals = tuple(sorted(k for k in {*proposal.approvals, member} if k in members))
    proposal = replace(proposal, approvals=approvals)
    record(env, state, "proposal_approved", proposal, approver=member)
    settle(env, state, proposal)


def open_proposal(state: Overlay, proposal_id: bytes) -> Proposal:
    """A proposal the open index names: its record is there, or the store is damaged."""
    return present(read_proposal(state, proposal_id), f"open proposal {proposal_id.hex()}")


def settle(env: BlockEnv, state: Overlay, proposal: Proposal) -> None:
    """Keep `proposal`, executing it first if its approvals now satisfy the council."""
    if not is_satisfied(council_policy(state), proposal.approvals):
        write_proposal(state, proposal)
        return
    work = state.child()
    try:
        execute(env, work, proposal)
    except RuleViolation as exc:
        reason = exc.message[:MAX_REASON]
        closed = replace(proposal, status=FAILED, closed_at=env.height, reason=reason)
        record(env, state, "proposal_failed", closed, reason=reason)
    else:
        work.merge_into_parent()
        closed = replace(proposal, status=EXECUTED, closed_at=env.height)
        record(env, state, "proposal_executed", closed)
    close(state, closed)


def close(state: Overlay, proposal: Proposal) -> None:
    write_proposal(state, proposal)
    write_open_index(state, tuple(e for e in open_index(state) if e[1] != proposal.id))


# The block step


def expire_proposals(env: BlockEnv, state: Overlay) -> None:
    """Close every open proposal whose last height has passed, before the block's
    transactions (so none of them can approve it)."""
    for expires_after, proposal_id in open_index(state):
        if expires_after >= env.height:
            break
        closed = replace(open_proposal(state, proposal_id), status=EXPIRED, closed_at=env.height)
        record(env, state, "proposal_expired", closed)
        close(state, closed)


def switch_release(env: BlockEnv, state: Overlay) -> None:
    """At the plan's height, before anything else of the block: the planned release becomes
    the one the chain runs (this block is the first it must make)."""
    plan = upgrade_plan(state)
    if plan is None or env.height < plan.height:
        return
    state.set_state(RELEASE_KEY, release_record(plan))
    state.delete_state(PLAN_KEY)
    council_entry(env, state, "upgrade_switched", encode(content_to_value(plan)))


def take_up_epoch_params(env: BlockEnv, state: Overlay) -> None:
    """On an epoch's first block: the epoch parameters the council decided take effect."""
    applied = apply_pending_params(env, state)
    if applied:
        council_entry(env, state, "params_applied", encode(dict(sorted(applied.items()))))


GOVERNANCE_RULES = {GovPropose: propose, GovApprove: approve}
