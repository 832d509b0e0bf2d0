"""Farming on a real chain: registration, proofs of space with real k=18 chiapos plots, scrypt
compute challenges, heartbeats, and the epoch rewards every validator recomputes."""

import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from chain import merkle
from chain.address import Address, key_address
from chain.blockchain import validate_block
from chain.blocks.block import Block
from chain.errors import (
    AlreadyDone,
    EncodingError,
    InvalidBlock,
    InvalidProof,
    InvalidTransaction,
    LateAnswer,
    NotOwner,
    RuleViolation,
    UnknownFarm,
    WrongEpoch,
)
from chain.farming.compute import challenge_height, result_leaf, sample_indices
from chain.farming.records import FAILED, VERIFIED, read_activity, read_epoch, read_farm, read_node
from chain.farming.rewards import rewards_root
from chain.farming.rules import epoch_start, node_consent_message
from chain.farming.txs import (
    ComputeCommit,
    ComputeReveal,
    FarmCreate,
    FarmRemove,
    FarmUpdate,
    Heartbeat,
    NodeRegister,
    NodeRemove,
    NodeUpdate,
    Opening,
    SpaceProof,
    StorageProofs,
    farm_payload_from_value,
)
from chain.genesis_state import COUNCIL_ADDRESS
from chain.ledger.transactions import Payload, SignedTx
from chain.params import ChainParams
from node.farmer.agent import FarmerAgent
from node.farmer.plots import Plot, create_plot, find_proofs
from tests.kit.chainkit import CHAIN, USERS, VALIDATOR, ContractChain, key
from tests.kit.farmkit import (
    BOND,
    LOCATION,
    RESOURCES,
    Farmer,
    balance,
    epoch_rewards_paid,
    farming_genesis,
    register,
    run_until,
    step,
    view,
)

ALICE, BOB, MALLORY = USERS["alice"], USERS["bob"], USERS["mallory"]


def owner_of(kp: object) -> Address:
    return key_address(kp.public_key)  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def plots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Plot]]:
    """Real k=18 plots with fixed seeds (so every run sees the same proofs): one for alice,
    two for bob, one for mallory."""
    root = tmp_path_factory.mktemp("plots")
    made: dict[str, list[Plot]] = {}
    for name, count in (("alice", 1), ("bob", 2), ("mallory", 1)):
        owner = owner_of(USERS[name])
        made[name] = [
            create_plot(root / name, owner, 18, seed=bytes([i + 1]) * 16 + name.encode().ljust(16))
            for i in range(count)
        ]
    return made


def chain_with(tmp_path: Path, **params: int) -> Iterator[ContractChain]:
    chain = ContractChain(tmp_path / "db", farming_genesis(**params))
    yield chain
    chain.close()


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[ContractChain]:
    yield from chain_with(tmp_path)


def rejection(chain: ContractChain, tx: SignedTx) -> RuleViolation:
    """Build a block with `tx` alone; it must be left out. Returns why (its nonce stays used:
    these tests count on it)."""
    error = chain.refusal(tx)
    chain.nonces[tx.body.sender] = tx.body.nonce + 1
    return error


def farmer(name: str, plots: list[Plot]) -> Farmer:
    return Farmer(USERS[name], key(f"node-{name}"), plots)


# --- registration -------------------------------------------------------------------------------


def test_register_update_and_remove(chain: ContractChain) -> None:
    f = farmer("alice", [])
    before = balance(chain, owner_of(ALICE))
    register(chain, f)
    farm = read_farm(chain.store, f.farm)
    node = read_node(chain.store, f.node)
    assert farm is not None and node is not None
    assert (farm.owner, farm.bond, farm.nodes) == (owner_of(ALICE), BOND, 1)
    assert (node.farm, node.key, node.resources, node.location) == (
        f.farm,
        f.node_key.public_key,
        RESOURCES,
        LOCATION,
    )
    bigger = replace(RESOURCES, cores=4)
    chain.produce(
        [
            chain.tx(ALICE, NodeUpdate(f.node, bigger, LOCATION)),
            chain.tx(ALICE, FarmUpdate(f.farm, "renamed", owner_of(BOB), 5)),
        ]
    )
    node, farm = read_node(chain.store, f.node), read_farm(chain.store, f.farm)
    assert node is not None and node.resources.cores == 4
    assert farm is not None and (farm.name, farm.payout, farm.bond) == (
        "renamed",
        owner_of(BOB),
        BOND + 5,
    )
    err = rejection(chain, chain.tx(ALICE, FarmRemove(f.farm)))
    assert isinstance(err, InvalidTransaction) and "still has 1 nodes" in err.message
    chain.nonces[owner_of(ALICE)] -= 1
    chain.produce([chain.tx(ALICE, NodeRemove(f.node)), chain.tx(ALICE, FarmRemove(f.farm))])
    assert read_node(chain.store, f.node) is None and read_farm(chain.store, f.farm) is None
    # Bond back; what is gone is the fees and the node's funding.
    fees = 7 * chain.genesis.params.min_fee  # create, fund, register, 2 updates, 2 removes
    assert balance(chain, owner_of(ALICE)) == before - fees - 1_000_000


def test_registration_errors(chain: ContractChain) -> None:
    f = farmer("alice", [])
    register(chain, f)
    params = chain.genesis.params
    low = chain.tx(BOB, FarmCreate("b", owner_of(BOB), params.farm_min_bond - 1))
    assert "below the minimum farm bond" in rejection(chain, low).message
    chain.nonces[owner_of(BOB)] = 0
    stranger = chain.tx(BOB, NodeUpdate(f.node, RESOURCES, LOCATION))
    assert isinstance(rejection(chain, stranger), NotOwner)
    chain.nonces[owner_of(BOB)] = 0
    missing = chain.tx(BOB, FarmRemove(99))
    assert isinstance(rejection(chain, missing), UnknownFarm)
    chain.nonces[owner_of(BOB)] = 0
    # The same node key cannot join a second farm, and a key must consent to join.
    chain.produce([chain.tx(BOB, FarmCreate("b", owner_of(BOB), BOND))])
    reuse_sig = f.node_key.sign(node_consent_message(CHAIN, 2, f.node_key.public_key))
    reuse = chain.tx(BOB, NodeRegister(2, f.node_key.public_key, RESOURCES, LOCATION, reuse_sig))
    assert "is already node 1" in rejection(chain, reuse).message
    chain.nonces[owner_of(BOB)] -= 1
    other = key("node-unconsenting")
    wrong_sig = other.sign(node_consent_message(CHAIN, 1, other.public_key))  # for farm 1
    unconsented = chain.tx(BOB, NodeRegister(2, other.public_key, RESOURCES, LOCATION, wrong_sig))
    assert isinstance(rejection(chain, unconsented), InvalidProof)


CAPS = {"container": True, "vm": False, "gateway": ""}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([1, b"k" * 32, [0, 1, 0, 0], ["BE", "Ghent", 0, 0], b"s" * 64, CAPS], "cores"),
        ([1, b"k" * 32, [1, 1, 0, 0], ["be", "Ghent", 0, 0], b"s" * 64, CAPS], "ISO 3166"),
        ([1, b"k" * 32, [1, 1, 0, 0], ["BE", "", 0, 0], b"s" * 64, CAPS], "city"),
        ([1, b"k" * 32, [1, 1, 0, 0], ["BE", "Ghent", 90_000_001, 0], b"s" * 64, CAPS], "latitude"),
        (
            [1, b"k" * 32, [1, 1, 0, 0], ["BE", "Ghent", 0, -180_000_001], b"s" * 64, CAPS],
            "longitude",
        ),
        ([1, b"k" * 31, [1, 1, 0, 0], ["BE", "Ghent", 0, 0], b"s" * 64, CAPS], "node_key"),
        (
            [1, b"k" * 32, [1, 1, 0, 0], ["BE", "Ghent", 0, 0], b"s" * 64, {**CAPS, "vm": 1}],
            "capabilities.vm",
        ),
        (
            [
                1,
                b"k" * 32,
                [1, 1, 0, 0],
                ["BE", "Ghent", 0, 0],
                b"s" * 64,
                {**CAPS, "gateway": "A..b"},
            ],
            "gateway domain",
        ),
        (
            [1, b"k" * 32, [1, 1, 0, 0], ["BE", "Ghent", 0, 0], b"s" * 64, {"vm": False}],
            "capabilities",
        ),
    ],
)
def test_malformed_node_registration_is_named(value: list[object], message: str) -> None:
    keys = ("farm", "node_key", "resources", "location", "node_signature", "capabilities")
    with pytest.raises(EncodingError, match=message):
        farm_payload_from_value("node_register", dict(zip(keys, value, strict=True)))


# --- proofs of space ----------------------------------------------------------------------------


def test_two_plots_earn_about_twice_one_plot(tmp_path: Path, plots: dict[str, list[Plot]]) -> None:
    """Each plot holds a Poisson(1) number of proofs per challenge, so with C challenges over E
    epochs one plot shows N1 ~ Poisson(C*E) proofs and two show N2 ~ Poisson(2*C*E). With C=256
    and E=2 the ratio N2/N1 has a standard deviation of 2 * sqrt(1/512 + 1/1024) = 0.11; the
    tolerance 1.6..2.4 is 3.7 standard deviations, missed by an honest pair about once in 4,000
    challenge sets. (The chain here is deterministic, so this run always sees the same set.)"""
    chain = next(chain_with(tmp_path, storage_challenges=256, reward_per_core=0))
    one, two = farmer("alice", plots["alice"]), farmer("bob", plots["bob"])
    register(chain, one)
    register(chain, two)
    params = chain.genesis.params
    run_until(chain, [one, two], epoch_start(params, 3))
    paid = {1: 0, 2: 0}
    for epoch in (1, 2):
        for line in epoch_rewards_paid(chain, epoch):
            assert line.uptime_bp == 10_000  # compute is proven too, but paid 0 here
            paid[line.farm] += line.amount
    ratio = paid[two.farm] / paid[one.farm]
    assert 1.6 <= ratio <= 2.4, (paid, ratio)
    chain.close()


def proofs_for(plots: list[Plot], seed: bytes, params: ChainParams) -> tuple[SpaceProof, ...]:
    return tuple(find_proofs(plots, seed, params.storage_challenges))[:64]


def test_cheating_storage_earns_nothing(chain: ContractChain, plots: dict[str, list[Plot]]) -> None:
    honest, cheat = farmer("alice", plots["alice"]), farmer("mallory", [])
    register(chain, honest)
    register(chain, cheat)
    params = chain.genesis.params
    run_until(chain, [honest, cheat], epoch_start(params, 1) + 1)
    epoch = read_epoch(chain.store)
    assert epoch is not None and epoch.epoch == 1
    honest_proofs = proofs_for(plots["alice"], epoch.seed, params)
    node = cheat.node

    def send(payload: Payload) -> RuleViolation:
        return rejection(chain, chain.tx(cheat.node_key, payload))

    def undo() -> None:
        chain.nonces[key_address(cheat.node_key.public_key)] -= 1

    # Another farmer's proofs: the plot id is bound to alice, so they do not verify for mallory.
    err = send(StorageProofs(node, 1, honest_proofs))
    assert isinstance(err, InvalidProof) and "farm owner" in err.message
    undo()
    # A plot never made: random bytes of the right size.
    fake = SpaceProof(os.urandom(32), 18, 0, os.urandom(8 * 18))
    assert isinstance(send(StorageProofs(node, 1, (fake,))), InvalidProof)
    undo()
    # Mallory's own plot: credited once; the same proofs again are refused.
    mallory_now = proofs_for(plots["mallory"], epoch.seed, params)
    chain.produce([chain.tx(cheat.node_key, StorageProofs(node, 1, mallory_now))])
    assert read_activity(chain.store, node, 1).proofs == len(mallory_now)
    again = send(StorageProofs(node, 1, mallory_now))  # the same proofs a second time
    assert isinstance(again, AlreadyDone)
    undo()
    # Next epoch: the old proofs are for the old challenges.
    run_until(chain, [honest], epoch_start(params, 2) + 1)
    assert isinstance(send(StorageProofs(node, 1, mallory_now)), WrongEpoch)
    undo()
    err = send(StorageProofs(node, 2, mallory_now))
    assert isinstance(err, InvalidProof) and "epoch 2" in err.message
    undo()
    # Mallory paid for nothing it did not prove: no uptime, no proofs this epoch.
    run_until(chain, [honest], epoch_start(params, 3))
    lines = {r.node: r for r in epoch_rewards_paid(chain, 2)}
    assert node not in lines and lines[honest.node].amount > 0


# --- compute ------------------------------------------------------------------------------------


def commit_and_reveal(
    chain: ContractChain, f: Farmer, results: list[bytes], others: list[Farmer]
) -> None:
    """Answer the node's compute challenge with `results` (right or made up)."""
    params = chain.genesis.params
    epoch = read_epoch(chain.store)
    assert epoch is not None
    asked = challenge_height(params, epoch.start, epoch.seed, f.node)
    run_until(chain, others, asked)
    leaves = [result_leaf(i, r) for i, r in enumerate(results)]
    commit = ComputeCommit(f.node, epoch.epoch, len(results), merkle.root(leaves))
    chain.produce([chain.tx(f.node_key, commit)])
    commit_height = chain.head.height
    indices = sample_indices(chain.head.hash, f.node, len(results), params.compute_samples)
    openings = tuple(
        Opening(i, results[i], tuple(merkle.inclusion_proof(leaves, i))) for i in indices
    )
    chain.produce([chain.tx(f.node_key, ComputeReveal(f.node, epoch.epoch, openings))])
    assert read_activity(chain.store, f.node, epoch.epoch).commit_height == commit_height


def test_fake_compute_slashes_the_bond_and_earns_nothing(
    chain: ContractChain, plots: dict[str, list[Plot]]
) -> None:
    honest, cheat = farmer("alice", plots["alice"]), farmer("mallory", plots["mallory"])
    register(chain, honest)
    register(chain, cheat)
    params = chain.genesis.params
    # Mallory's agent does everything but compute: heartbeats and real storage proofs.
    run_until(chain, [honest, cheat], epoch_start(params, 1))
    assert cheat.agent is not None
    cheat.agent.committed_epoch = 1  # so the agent leaves epoch 1's challenge to the test
    run_until(chain, [honest, cheat], epoch_start(params, 1) + 1)
    council_before = balance(chain, COUNCIL_ADDRESS)
    made_up = [os.urandom(32) for _ in range(params.compute_units_per_core)]
    commit_and_reveal(chain, cheat, made_up, [honest, cheat])
    assert read_activity(chain.store, cheat.node, 1).compute == FAILED
    farm = read_farm(chain.store, cheat.farm)
    assert farm is not None and farm.bond == 0 and farm.slashed_epoch == 1
    assert balance(chain, COUNCIL_ADDRESS) == council_before + BOND
    run_until(chain, [honest, cheat], epoch_start(params, 2))
    lines = {r.node: r for r in epoch_rewards_paid(chain, 1)}
    assert lines[cheat.node].amount == 0 and lines[cheat.node].storage_bytes > 0
    assert lines[honest.node].amount > 0 and lines[honest.node].compute_milli_cores == 1000


def test_late_compute_counts_as_none_and_unopened_is_slashed(
    chain: ContractChain, plots: dict[str, list[Plot]]
) -> None:
    late, silent = farmer("alice", plots["alice"]), farmer("bob", plots["bob"][:1])
    register(chain, late)
    register(chain, silent)
    params = chain.genesis.params
    run_until(chain, [late, silent], epoch_start(params, 1))
    assert late.agent is not None and silent.agent is not None
    late.agent.committed_epoch = silent.agent.committed_epoch = 1  # the test answers instead
    run_until(chain, [late, silent], epoch_start(params, 1) + 1)
    epoch = read_epoch(chain.store)
    assert epoch is not None
    late_due = challenge_height(params, epoch.start, epoch.seed, late.node)
    late_due += params.compute_deadline_blocks
    silent_asked = challenge_height(params, epoch.start, epoch.seed, silent.node)
    tried_late = committed_silent = False
    while chain.head.height < epoch_start(params, 2) - 1:
        if chain.head.height == late_due:  # the next block is one past the deadline
            commit = ComputeCommit(late.node, 1, 1, os.urandom(32))
            err = rejection(chain, chain.tx(late.node_key, commit))
            assert isinstance(err, LateAnswer) and f"due by height {late_due}" in err.message
            chain.nonces[key_address(late.node_key.public_key)] -= 1
            tried_late = True
        if chain.head.height >= silent_asked and not committed_silent:  # in time, never opened
            commit = ComputeCommit(silent.node, 1, 1, os.urandom(32))
            chain.produce([chain.tx(silent.node_key, commit)])
            committed_silent = True
            continue
        step(chain, [late, silent])
    assert tried_late and committed_silent
    step(chain, [late, silent])  # the first block of epoch 2 settles epoch 1
    farm = read_farm(chain.store, silent.farm)
    assert farm is not None and farm.bond == 0 and farm.slashed_epoch == 1
    lines = {r.node: r for r in epoch_rewards_paid(chain, 1)}
    assert lines[silent.node].amount == 0
    assert lines[late.node].compute_milli_cores == 0 and lines[late.node].amount > 0
    late_farm = read_farm(chain.store, late.farm)
    assert late_farm is not None and late_farm.bond == BOND  # late is not wrong


def test_plots_below_the_minimum_size_are_refused(
    tmp_path: Path, plots: dict[str, list[Plot]]
) -> None:
    chain = next(chain_with(tmp_path, plot_min_k=19))
    f = farmer("alice", [])
    register(chain, f)
    run_until(chain, [f], epoch_start(chain.genesis.params, 1) + 1)
    epoch = read_epoch(chain.store)
    assert epoch is not None
    proofs = proofs_for(plots["alice"], epoch.seed, chain.genesis.params)
    err = rejection(chain, chain.tx(f.node_key, StorageProofs(f.node, 1, proofs)))
    assert isinstance(err, InvalidProof) and "k >= 19" in err.message
    chain.close()


# --- uptime -------------------------------------------------------------------------------------


def test_heartbeats_make_uptime(chain: ContractChain, plots: dict[str, list[Plot]]) -> None:
    steady, flaky = farmer("alice", plots["alice"]), farmer("bob", plots["bob"][:1])
    register(chain, steady)
    register(chain, flaky)
    params = chain.genesis.params
    run_until(chain, [steady, flaky], epoch_start(params, 1))
    # Flaky misses the heartbeats of one slot out of six: 83% < 95%, so it earns nothing.
    while chain.head.height < epoch_start(params, 2) - 1:
        v = view(chain, flaky.node)
        skip = v.height + 1 >= epoch_start(params, 1) + 2 * params.heartbeat_interval_blocks
        skip = skip and v.height + 1 < epoch_start(params, 1) + 3 * params.heartbeat_interval_blocks
        assert flaky.agent is not None
        if skip:
            flaky.agent.sent_slot = (v.height) // params.heartbeat_interval_blocks
        step(chain, [steady, flaky])
    run_until(chain, [steady, flaky], epoch_start(params, 2))
    lines = {r.node: r for r in epoch_rewards_paid(chain, 1)}
    assert lines[steady.node].uptime_bp == 10_000 and lines[steady.node].amount > 0
    assert lines[flaky.node].uptime_bp == 10_000 * 5 // 6
    assert lines[flaky.node].amount == 0 and lines[flaky.node].storage_bytes > 0


def test_heartbeat_rules(chain: ContractChain) -> None:
    f = farmer("alice", [])
    register(chain, f)
    head = chain.head
    hb = chain.tx(f.node_key, Heartbeat(f.node, head.height, os.urandom(32)))
    assert "not among the last" in rejection(chain, hb).message
    chain.nonces[key_address(f.node_key.public_key)] -= 1
    by_owner = chain.tx(ALICE, Heartbeat(f.node, head.height, head.hash))
    assert isinstance(rejection(chain, by_owner), NotOwner)
    chain.nonces[owner_of(ALICE)] -= 1
    chain.produce([chain.tx(f.node_key, Heartbeat(f.node, head.height, head.hash))])
    twice = chain.tx(f.node_key, Heartbeat(f.node, head.height, head.hash))
    assert isinstance(rejection(chain, twice), AlreadyDone)


# --- payouts ------------------------------------------------------------------------------------


def test_block_that_overpays_is_rejected(
    chain: ContractChain, plots: dict[str, list[Plot]]
) -> None:
    f = farmer("alice", plots["alice"])
    register(chain, f)
    params = chain.genesis.params
    run_until(chain, [f], epoch_start(params, 1) - 1)
    result, _ = chain.build_only([])
    honest = result.block
    assert len(honest.rewards) == 1 and honest.rewards[0].amount > 0

    def tampered(rewards: tuple[object, ...]) -> Block:
        header = replace(honest.header, rewards_root=rewards_root(rewards))  # type: ignore[arg-type]
        return replace(honest, header=header, rewards=rewards)  # type: ignore[arg-type]

    line = honest.rewards[0]
    for bad, message in (
        ((replace(line, amount=line.amount + 1),), "the rules give node"),
        ((), "carries 0 rewards, the rules give 1"),
        ((line, replace(line, node=line.node + 1)), "carries 2 rewards"),
        ((replace(line, uptime_bp=10_000, storage_bytes=line.storage_bytes * 2),), "storage"),
    ):
        with pytest.raises(InvalidBlock, match=message):
            validate_block(chain.store, chain.head, tampered(bad), runtime=chain.runtime)
    # The header must commit to the rewards the block carries.
    unbound = replace(honest, rewards=(replace(line, amount=line.amount + 1),))
    with pytest.raises(InvalidBlock, match="rewards_root"):
        validate_block(chain.store, chain.head, unbound, runtime=chain.runtime)
    validate_block(chain.store, chain.head, honest, runtime=chain.runtime)


def test_supply_grows_only_by_rewards(chain: ContractChain, plots: dict[str, list[Plot]]) -> None:
    """Every credit is in an account or a bond; only the rewards add to them (fees move to the
    proposer, slashed bonds to the council)."""
    honest, cheat = farmer("alice", plots["alice"]), farmer("mallory", plots["mallory"])
    addresses = [owner_of(kp) for kp in USERS.values()] + [
        key_address(VALIDATOR.public_key),
        COUNCIL_ADDRESS,
        key_address(honest.node_key.public_key),
        key_address(cheat.node_key.public_key),
    ]

    def supply() -> int:
        bonds = 0
        for farm_id in (1, 2):
            farm = read_farm(chain.store, farm_id)
            bonds += 0 if farm is None else farm.bond
        return sum(balance(chain, a) for a in addresses) + bonds

    before = supply()
    register(chain, honest)
    register(chain, cheat)
    params = chain.genesis.params
    assert cheat.agent is not None
    run_until(chain, [honest, cheat], epoch_start(params, 1) + 1)
    cheat.agent.committed_epoch = 1
    made_up = [os.urandom(32) for _ in range(params.compute_units_per_core)]
    commit_and_reveal(chain, cheat, made_up, [honest, cheat])
    run_until(chain, [honest, cheat], epoch_start(params, 3))
    paid = sum(r.amount for e in (0, 1, 2) for r in epoch_rewards_paid(chain, e))
    assert paid > 0
    assert supply() == before + paid


def test_agent_is_restartable_from_chain_records(
    chain: ContractChain, plots: dict[str, list[Plot]]
) -> None:
    """A new agent (a restarted `farmer run`) does not resend what the chain already has."""
    f = farmer("alice", plots["alice"])
    register(chain, f)
    run_until(chain, [f], epoch_start(chain.genesis.params, 1) + 2)
    node = read_node(chain.store, f.node)
    assert node is not None
    fresh = FarmerAgent(chain.genesis.params, node, plots["alice"])
    payloads = fresh.next_payloads(view(chain, f.node))
    assert not any(isinstance(p, StorageProofs) for p in payloads)


def test_restarted_agent_opens_the_commitment_it_made_before(
    chain: ContractChain, plots: dict[str, list[Plot]]
) -> None:
    """A farmer killed between commit and opening is not slashed: the work depends only on the
    chain, so the restarted agent computes it again and opens it."""
    f = farmer("alice", plots["alice"])
    register(chain, f)
    params = chain.genesis.params
    run_until(chain, [f], epoch_start(params, 1))
    assert f.agent is not None
    while read_activity(chain.store, f.node, 1).compute == "none":
        step(chain, [f])
    assert read_activity(chain.store, f.node, 1).compute == "committed"
    node = read_node(chain.store, f.node)
    assert node is not None
    f.agent = FarmerAgent(params, node, plots["alice"])  # the restart: nothing in memory
    step(chain, [f])
    assert read_activity(chain.store, f.node, 1).compute == VERIFIED
    assert any("recomputed" in line for line in f.agent.log)
