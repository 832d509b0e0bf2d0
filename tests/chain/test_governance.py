"""The council's proposals (chain/governance/): a 2-of-3 council of three members, each
proposing and approving from their own key account; blocks built, checked again as a peer
checks them, and committed to a real LevelDB."""

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from chain.blockchain import build_block, validate_block
from chain.encoding import decode
from chain.errors import EncodingError, InvalidBlock, InvalidParams
from chain.genesis_state import COUNCIL_ADDRESS
from chain.governance.params import FixedParameter, pending_params
from chain.governance.proposals import (
    EXECUTED,
    EXPIRED,
    FAILED,
    MAX_OPEN_PER_MEMBER,
    OPEN,
    Proposal,
    open_index,
    proposal_from_value,
    proposal_to_json,
    proposal_to_value,
    read_proposal,
    recent_ids,
)
from chain.governance.rules import (
    AlreadyApproved,
    InvalidProposal,
    NotCouncilMember,
    ProposalClosed,
    TooManyProposals,
    UnknownProposal,
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
    content_from_value,
    content_to_value,
)
from chain.governance.upgrade import (
    genesis_release,
    required_release,
    running_release,
    upgrade_plan,
)
from chain.hashing import hash32
from chain.keys import KeyPair
from chain.ledger.policy import Signer, make_policy
from chain.ledger.transactions import (
    Transfer,
    TxBody,
    UpdateMultisig,
    decode_tx,
    sign_tx,
    tx_to_json,
)
from chain.staking.council import pending_changes
from chain.staking.txs import ValidatorRemove
from chain.state import Overlay
from tests.kit.chainkit import USERS, VALIDATOR, ContractChain, make_genesis
from tests.kit.councilkit import add, key

ALICE, BOB, CAROL, MALLORY = (USERS[n] for n in ("alice", "bob", "carol", "mallory"))
NEWCOMER = key("gov-newcomer")


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[ContractChain]:
    council = make_policy([Signer(k.public_key, 1) for k in (ALICE, BOB, CAROL)], 2)
    chain = ContractChain(tmp_path / "chain", replace(make_genesis(), council=council))
    yield chain
    chain.close()


def propose(
    chain: ContractChain, member: KeyPair, content: ProposalContent, voting_blocks: int = 10
) -> bytes:
    tx = chain.tx(member, GovPropose(f"a {type(content).__name__}", content, voting_blocks))
    chain.produce([tx])
    return tx.id


def approve(chain: ContractChain, member: KeyPair, proposal_id: bytes) -> None:
    chain.produce([chain.tx(member, GovApprove(proposal_id))])


def proposal(chain: ContractChain, proposal_id: bytes) -> Proposal:
    found = read_proposal(chain.store, proposal_id)
    assert found is not None
    return found


def council_entries(chain: ContractChain, start: int) -> list[tuple[str, dict[str, object]]]:
    entries = chain.store.audit_entries(start, chain.store.audit_size())
    return [(e.topic, decode(e.data)) for e in entries if e.contract == COUNCIL_ADDRESS.raw]


def test_a_parameter_change_needs_two_of_three(chain: ContractChain) -> None:
    start = chain.store.audit_size()
    change = ParamsChange((("max_block_txs", 500), ("min_fee", 3)))
    proposal_id = propose(chain, ALICE, change)
    # One member (the proposer) is not enough: nothing changes, the proposal waits.
    assert proposal(chain, proposal_id).status == OPEN
    assert Overlay(chain.store).params().min_fee == 1
    assert open_index(chain.store) == ((chain.head.height + 10, proposal_id),)

    approve(chain, BOB, proposal_id)
    executed_at = chain.head.height
    done = proposal(chain, proposal_id)
    assert (done.status, done.closed_at) == (EXECUTED, executed_at)
    assert done.approvals == tuple(sorted(k.public_key for k in (ALICE, BOB)))
    params = Overlay(chain.store).params()
    assert (params.min_fee, params.max_block_txs) == (3, 500)
    assert open_index(chain.store) == () and recent_ids(chain.store) == (proposal_id,)
    topics = [topic for topic, _ in council_entries(chain, start)]
    assert topics == ["proposal_submitted", "proposal_approved", "proposal_executed"]
    assert all(data["id"] == proposal_id for _, data in council_entries(chain, start))
    # The third member's approval comes too late: the proposal is closed.
    late = chain.tx(CAROL, GovApprove(proposal_id), fee=3)
    assert isinstance(chain.refusal(late), ProposalClosed)
    # The new minimum fee holds from the next block on.
    cheap = chain.tx(CAROL, GovPropose("t", TextProposal("hi"), 5), fee=1)
    assert "below the minimum" in chain.refusal(cheap).message


def test_a_reward_change_by_two_members(chain: ContractChain) -> None:
    proposal_id = propose(chain, BOB, RewardsChange(7, 9))
    assert Overlay(chain.store).params().reward_per_gib != 7
    approve(chain, CAROL, proposal_id)
    params = Overlay(chain.store).params()
    assert (params.reward_per_gib, params.reward_per_core) == (7, 9)


def test_only_members_propose_and_each_approves_once(chain: ContractChain) -> None:
    refused = chain.refusal(chain.tx(MALLORY, GovPropose("mine", TextProposal("hello"), 5)))
    assert isinstance(refused, NotCouncilMember)
    proposal_id = propose(chain, ALICE, TextProposal("the council meets on Mondays"))
    for member, error in ((MALLORY, NotCouncilMember), (ALICE, AlreadyApproved)):
        assert isinstance(chain.refusal(chain.tx(member, GovApprove(proposal_id))), error)
    unknown = chain.refusal(chain.tx(BOB, GovApprove(hash32(b"no such proposal"))))
    assert isinstance(unknown, UnknownProposal)
    approve(chain, CAROL, proposal_id)
    assert proposal(chain, proposal_id).status == EXECUTED  # said; nothing else changes


def test_an_expired_proposal_does_nothing(chain: ContractChain) -> None:
    start = chain.store.audit_size()
    proposal_id = propose(chain, ALICE, RewardsChange(1, 1), voting_blocks=2)
    submitted = chain.head.height
    chain.advance(2)  # approvals are still taken in these blocks
    assert proposal(chain, proposal_id).status == OPEN
    chain.advance(1)
    expired = proposal(chain, proposal_id)
    assert (expired.status, expired.closed_at) == (EXPIRED, submitted + 3)
    assert isinstance(chain.refusal(chain.tx(BOB, GovApprove(proposal_id))), ProposalClosed)
    assert Overlay(chain.store).params().reward_per_gib != 1
    assert [t for t, _ in council_entries(chain, start)] == [
        "proposal_submitted",
        "proposal_expired",
    ]


def test_what_cannot_apply_is_refused_when_proposed(chain: ContractChain) -> None:
    too_low = ParamsChange((("min_fee", -1),))  # a decoder refuses it too; the rule holds alone
    refused = chain.refusal(chain.tx(ALICE, GovPropose("x", too_low, 5)))
    assert isinstance(refused, InvalidParams) and "min_fee" in refused.message
    past = UpgradePlan("v2", chain.head.height, "0.2.0", bytes(32), "https://example.org/w.whl")
    refused = chain.refusal(chain.tx(ALICE, GovPropose("x", past, 5)))
    assert isinstance(refused, InvalidProposal)
    gone = ValidatorsChange((ValidatorRemove(NEWCOMER.public_key),))
    assert "not a validator" in chain.refusal(chain.tx(ALICE, GovPropose("x", gone, 5))).message


def test_a_proposal_overtaken_before_approval_closes_as_failed(chain: ContractChain) -> None:
    """Two proposals add the same validator; the second, approved after the first executed,
    no longer applies: its approval is taken, and the proposal closes as failed, with why."""
    first = propose(chain, ALICE, ValidatorsChange((add(NEWCOMER, 10, "n"),)))
    second = propose(chain, BOB, ValidatorsChange((add(NEWCOMER, 20, "n"),)))
    approve(chain, CAROL, first)
    assert [p.tx_id for p in pending_changes(chain.store)] == [first]
    chain.advance(2)
    assert Overlay(chain.store).validator_set().power_of(NEWCOMER.public_key) == 10
    approve(chain, CAROL, second)
    failed = proposal(chain, second)
    assert failed.status == FAILED and "already in the active set" in failed.reason
    assert Overlay(chain.store).validator_set().power_of(NEWCOMER.public_key) == 10


def test_an_approved_upgrade_is_planned(chain: ContractChain) -> None:
    plan = UpgradePlan(
        "v2", chain.head.height + 50, "0.2.0", hash32(b"wheel"), "file:///releases/v2.whl"
    )
    approve(chain, CAROL, propose(chain, ALICE, plan))
    assert upgrade_plan(chain.store) == plan


def test_a_member_who_left_the_council_no_longer_counts(chain: ContractChain) -> None:
    """The policy is read when approvals are counted: the council's own update_multisig
    (old and new policy both satisfied) can take a member out while a proposal is open."""
    proposal_id = propose(chain, ALICE, RewardsChange(3, 3))
    smaller = make_policy([Signer(k.public_key, 1) for k in (BOB, CAROL)], 2)
    body = TxBody(chain.genesis.chain_id, COUNCIL_ADDRESS, 0, 1, UpdateMultisig(smaller))
    chain.produce([chain.tx(ALICE, Transfer(COUNCIL_ADDRESS, 1_000))])  # the council's fee
    chain.produce([sign_tx(body, [BOB, CAROL])])
    approve(chain, BOB, proposal_id)  # ALICE's approval no longer counts: one of two
    assert proposal(chain, proposal_id).status == OPEN
    approve(chain, CAROL, proposal_id)
    assert proposal(chain, proposal_id).status == EXECUTED


# Encodings


CONTENTS = [
    ParamsChange((("gas_price", 2), ("min_fee", 5))),
    RewardsChange(10, 20),
    ValidatorsChange((add(NEWCOMER), ValidatorRemove(VALIDATOR.public_key))),
    UpgradePlan("v2", 100, "0.2.0+up1", hash32(b"w"), "https://example.org/gridchain.whl"),
    TextProposal("hello"),
]


@pytest.mark.parametrize("content", CONTENTS, ids=lambda c: type(c).__name__)
def test_proposals_round_trip_and_show(chain: ContractChain, content: ProposalContent) -> None:
    tx = chain.tx(ALICE, GovPropose("title", content, 7))
    assert decode_tx(tx.encoded) == tx
    view = tx_to_json(tx)
    assert view["type"] == "gov_propose" and view["payload"]["title"] == "title"
    record = Proposal(tx.id, ALICE.public_key, "title", content, 3, 10, (ALICE.public_key,))
    assert proposal_from_value(proposal_to_value(record)) == record
    assert proposal_to_json(record)["status"] == "open"


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        ("params", {"no_such_param": 1}, "not a chain parameter"),
        ("params", {"min_fee": -1}, "min_fee"),
        ("params", {}, "1 to"),
        ("rewards", {"reward_per_gib": 10**13, "reward_per_core": 0}, "reward_per_gib"),
        ("validators", {"changes": []}, "at least one"),
        ("upgrade", {**content_to_value(CONTENTS[3]), "url": "ftp://x"}, "url"),
        ("upgrade", {**content_to_value(CONTENTS[3]), "version": "a b"}, "version"),
        ("text", {"text": "  "}, "says something"),
        ("nonsense", {}, "unknown proposal kind"),
    ],
)
def test_malformed_proposals_are_refused_by_name(kind: str, value: object, message: str) -> None:
    with pytest.raises(EncodingError, match=message):
        content_from_value(kind, value)


# Releases


def test_blocks_carry_the_release_the_chain_runs_and_switch_at_the_plans_height(
    tmp_path: Path,
) -> None:
    council = make_policy([Signer(k.public_key, 1) for k in (ALICE, BOB, CAROL)], 2)
    genesis = replace(make_genesis(), council=council, software_version="1.0")
    chain = ContractChain(tmp_path / "chain", genesis)
    try:
        assert running_release(chain.store) == genesis_release("1.0")
        chain.produce()
        assert chain.head.version == "1.0"
        # A block made by another release than the chain runs is invalid.
        stray, _ = build_block(
            chain.store,
            chain.head,
            chain.last_commit,
            VALIDATOR.public_key,
            chain.head.time_ms + 1000,
            [],
            version="2.0",
        )
        with pytest.raises(InvalidBlock, match=r"made by release '2\.0'"):
            validate_block(chain.store, chain.head, stray.block, runtime=chain.runtime)

        start = chain.store.audit_size()
        plan = UpgradePlan("two", chain.head.height + 5, "2.0", hash32(b"w"), "file:///w.whl")
        approve(chain, BOB, propose(chain, ALICE, plan))
        while chain.head.height < plan.height - 1:
            chain.produce()
            assert chain.head.version == "1.0"
        assert required_release(chain.store, plan.height) == plan
        old, _ = build_block(
            chain.store,
            chain.head,
            chain.last_commit,
            VALIDATOR.public_key,
            chain.head.time_ms + 1000,
            [],
            version="1.0",
        )
        with pytest.raises(InvalidBlock, match=r"from height \d+ the chain runs '2\.0'"):
            validate_block(chain.store, chain.head, old.block, runtime=chain.runtime)
        chain.produce()  # made by the new release
        assert (chain.head.height, chain.head.version) == (plan.height, "2.0")
        assert running_release(chain.store) == plan and upgrade_plan(chain.store) is None
        assert [t for t, _ in council_entries(chain, start)][-1] == "upgrade_switched"
    finally:
        chain.close()


# What keeps the council from breaking the chain


def test_approvals_keep_only_members_so_a_record_stays_readable(chain: ContractChain) -> None:
    proposal_id = propose(chain, ALICE, RewardsChange(3, 3))
    smaller = make_policy([Signer(k.public_key, 1) for k in (BOB, CAROL, MALLORY)], 3)
    body = TxBody(chain.genesis.chain_id, COUNCIL_ADDRESS, 0, 1, UpdateMultisig(smaller))
    chain.produce([chain.tx(ALICE, Transfer(COUNCIL_ADDRESS, 1_000))])
    chain.produce([sign_tx(body, [ALICE, BOB, CAROL, MALLORY])])
    approve(chain, BOB, proposal_id)
    assert proposal(chain, proposal_id).approvals == (BOB.public_key,)  # ALICE left: dropped


def test_one_member_cannot_fill_the_agenda(chain: ContractChain) -> None:
    for i in range(MAX_OPEN_PER_MEMBER):
        chain.produce([chain.tx(ALICE, GovPropose(f"p{i}", TextProposal(f"{i}"), 100))])
    refused = chain.refusal(chain.tx(ALICE, GovPropose("more", TextProposal("x"), 100)))
    assert isinstance(refused, TooManyProposals) and "already has" in refused.message
    propose(chain, BOB, TextProposal("another member still can"))


def test_a_lowered_threshold_lets_a_member_approve_again_to_execute(chain: ContractChain) -> None:
    proposal_id = propose(chain, ALICE, RewardsChange(5, 5))
    one = make_policy([Signer(k.public_key, 1) for k in (ALICE, BOB, CAROL)], 1)
    body = TxBody(chain.genesis.chain_id, COUNCIL_ADDRESS, 0, 1, UpdateMultisig(one))
    chain.produce([chain.tx(ALICE, Transfer(COUNCIL_ADDRESS, 1_000))])
    chain.produce([sign_tx(body, [ALICE, BOB])])
    assert proposal(chain, proposal_id).status == OPEN
    approve(chain, ALICE, proposal_id)
    assert proposal(chain, proposal_id).status == EXECUTED


def test_the_epoch_layout_is_fixed_and_epoch_parameters_wait_for_the_next_epoch(
    tmp_path: Path,
) -> None:
    council = make_policy([Signer(ALICE.public_key, 1)], 1)
    genesis = replace(
        make_genesis(
            epoch_blocks=20,
            heartbeat_interval_blocks=5,
            compute_deadline_blocks=4,
            compute_reveal_blocks=4,
        ),
        council=council,
    )
    chain = ContractChain(tmp_path / "chain", genesis)
    try:
        for name in ("epoch_blocks", "heartbeat_interval_blocks"):
            refused = chain.refusal(
                chain.tx(ALICE, GovPropose("x", ParamsChange(((name, 40),)), 5))
            )
            assert isinstance(refused, FixedParameter) and name in refused.message
        propose(chain, ALICE, ParamsChange((("min_fee", 2), ("storage_challenges", 7))))
        params = Overlay(chain.store).params()
        assert (params.min_fee, params.storage_challenges) == (2, 32)  # fees now, proofs later
        assert pending_params(chain.store) == {"storage_challenges": 7}
        start = chain.store.audit_size()
        while (chain.head.height) % 20:
            chain.produce([])
        chain.produce([])  # the next epoch's first block
        assert Overlay(chain.store).params().storage_challenges == 7
        assert pending_params(chain.store) == {}
        assert "params_applied" in [t for t, _ in council_entries(chain, start)]
    finally:
        chain.close()


def test_bounds_keep_the_chain_governable(chain: ContractChain) -> None:
    for name, value in (("min_fee", 2**63 - 1), ("max_block_bytes", 1024)):
        with pytest.raises(EncodingError, match=name):
            content_from_value("params", {name: value})
        refused = chain.refusal(chain.tx(ALICE, GovPropose("x", ParamsChange(((name, value),)), 5)))
        assert isinstance(refused, InvalidParams) and name in refused.message


@pytest.mark.parametrize("version", ["v0.2.0", "0.2.0-rc1", "0.2", "0.2.0 "])
def test_an_upgrade_names_its_version_in_normal_form(version: str) -> None:
    value = {**content_to_value(CONTENTS[3]), "version": version}
    if version == "0.2":
        assert content_from_value("upgrade", value).version == "0.2"  # already normal
        return
    with pytest.raises(EncodingError, match="version"):
        content_from_value("upgrade", value)
