"""Farming rules: registration, heartbeats, proofs of space and compute, and epoch rewards.

Epoch e holds heights e * epoch_blocks + 1 .. (e + 1) * epoch_blocks. Its seed is the hash of
the block before its first one, final by then. Every block first records its parent's hash
(challenges and heartbeats name recent blocks); the first block of an epoch then settles the
epoch before: unopened compute commitments cost their farm its bond, and every node that did
anything is paid for what it proved (`epoch_rewards`), the same list the block must carry.

Each rule checks everything before it writes (the transaction runs in a child overlay too).
"""

from collections.abc import Callable, Iterator
from dataclasses import replace

from chain.address import Address, AddressType, key_address
from chain.encoding import encode
from chain.env import BlockEnv
from chain.errors import (
    AlreadyDone,
    InvalidBlock,
    InvalidProof,
    InvalidTransaction,
    LateAnswer,
    NotOwner,
    UnknownFarm,
    UnknownNode,
    WrongEpoch,
    present,
)
from chain.farming.compute import (
    challenge_height,
    proven_milli_cores,
    required_units,
    result_leaf,
    sample_indices,
    work_unit,
)
from chain.farming.index import index_node, reindex_node, unindex_node
from chain.farming.liveness import clear_down, seen_alive
from chain.farming.records import (
    COMMITTED,
    COUNTERS_KEY,
    EPOCH_KEY,
    FAILED,
    NONE,
    RECENT_HASHES_KEY,
    VERIFIED,
    Activity,
    EpochInfo,
    Farm,
    FarmNode,
    PlotClaim,
    activity_key,
    counters_record,
    encode_activity,
    encode_epoch,
    encode_farm,
    encode_node,
    encode_plot_claim,
    encode_recent,
    farm_key,
    last_seen_key,
    node_by_key_key,
    node_id_by_key,
    node_key,
    plot_claim_key,
    read_activity,
    read_counters,
    read_epoch,
    read_farm,
    read_node,
    read_plot_claim,
    read_recent_hashes,
    recent_hash,
)
from chain.farming.rewards import NodeReward
from chain.farming.space import GIB, plot_bytes, plot_id, proof_quality, storage_challenge
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
    StorageProofs,
)
from chain.genesis_state import COUNCIL_ADDRESS
from chain.hashing import tagged_hash
from chain.keys import verify_signature
from chain.ledger.transactions import SignedTx, payload_as
from chain.merkle import verify_inclusion
from chain.params import BASIS_POINTS, RECENT_HASHES, ChainParams
from chain.state import MAX_BALANCE, Overlay, increase_balance

MAX_PROOFS_PER_CHALLENGE = 8  # a plot holds ~Poisson(1) proofs per challenge: 8 is 1e-6 rare
GB = 10**9


# Epochs and slots


def epoch_of(params: ChainParams, height: int) -> int:
    return (height - 1) // params.epoch_blocks


def epoch_start(params: ChainParams, epoch: int) -> int:
    return epoch * params.epoch_blocks + 1


def slot_of(params: ChainParams, height: int) -> int:
    return (height - 1) // params.heartbeat_interval_blocks


def slots_per_epoch(params: ChainParams) -> int:
    return params.epoch_blocks // params.heartbeat_interval_blocks


def current_epoch(state: Overlay) -> EpochInfo:
    info = present(read_epoch(state), "the epoch record (begin_farming writes it first)")
    return info


# Block boundaries


def begin_farming(env: BlockEnv, state: Overlay) -> tuple[NodeReward, ...]:
    """Run before the block's transactions: remember the parent's hash and, on an epoch's first
    block, settle the epoch before it and start the new one. Returns the rewards paid."""
    params = env.params
    recent = (*read_recent_hashes(state), (env.height - 1, env.prev_hash))
    state.set_state(RECENT_HASHES_KEY, encode_recent(recent[-RECENT_HASHES:]))
    if (env.height - 1) % params.epoch_blocks:
        return ()
    epoch = epoch_of(params, env.height)
    rewards: tuple[NodeReward, ...] = ()
    if epoch > 0:
        rewards = settle_epoch(state, params, epoch - 1)
    state.set_state(EPOCH_KEY, encode_epoch(EpochInfo(epoch, env.height, env.prev_hash)))
    return rewards


def check_rewards(carried: tuple[NodeReward, ...], expected: tuple[NodeReward, ...]) -> None:
    """A block must carry exactly the rewards the rules give; name the first difference."""
    for i, (got, want) in enumerate(zip(carried, expected, strict=False)):
        if got != want:
            raise InvalidBlock(
                f"reward {i} (node {got.node}) pays {got.amount} for storage "
                f"{got.storage_bytes}, compute {got.compute_milli_cores}, uptime {got.uptime_bp}; "
                f"the rules give node {want.node} {want.amount} for storage "
                f"{want.storage_bytes}, compute {want.compute_milli_cores}, uptime {want.uptime_bp}"
            )
    if len(carried) != len(expected):
        raise InvalidBlock(f"block carries {len(carried)} rewards, the rules give {len(expected)}")


# Settlement


def registered_nodes(state: Overlay) -> Iterator[FarmNode]:
    """Every registered node in id order (removed ids are skipped)."""
    _, next_node = read_counters(state)
    for node_id in range(1, next_node):
        node = read_node(state, node_id)
        if node is not None:
            yield node


def active_nodes(state: Overlay, epoch: int) -> list[tuple[FarmNode, Activity]]:
    """Registered nodes that did anything in `epoch`, with what they did, by node id."""
    active = []
    for node in registered_nodes(state):
        activity = read_activity(state, node.id, epoch)
        if activity != Activity(epoch):
            active.append((node, activity))
    return active


def settle_epoch(state: Overlay, params: ChainParams, epoch: int) -> tuple[NodeReward, ...]:
    """Slash for unopened commitments, then compute and pay the epoch's rewards.

    A compute commitment never opened is an answer that could not be checked: it costs the
    farm its bond as a wrong one does (otherwise a cheater would simply never open)."""
    active = active_nodes(state, epoch)
    for node, activity in active:
        if activity.compute == COMMITTED:
            slash_farm(state, params, node.farm, epoch)
    rewards = rewards_for(state, params, epoch, active)
    pay_rewards(state, rewards)
    return rewards


def slash_farm(state: Overlay, params: ChainParams, farm_id: int, epoch: int) -> None:
    """Take farm_slash_bp of the bond to the council's account; the farm earns nothing for
    the epoch. A farm is slashed at most once per epoch."""
    farm = present(read_farm(state, farm_id), f"farm {farm_id}")
    if farm.slashed_epoch == epoch:
        return
    taken = farm.bond * params.farm_slash_bp // BASIS_POINTS
    state.set_state(
        farm_key(farm.id), encode_farm(replace(farm, bond=farm.bond - taken, slashed_epoch=epoch))
    )
    increase_balance(state, COUNCIL_ADDRESS, taken)


def uptime_bp(params: ChainParams, node: FarmNode, activity: Activity, epoch: int) -> int:
    """Share of the epoch's heartbeat slots (since the node was registered) it sent one in."""
    last = (epoch + 1) * slots_per_epoch(params) - 1
    first = max(epoch * slots_per_epoch(params), slot_of(params, node.registered_height) + 1)
    expected = last - first + 1
    if expected <= 0:
        return 0
    return min(BASIS_POINTS, activity.heartbeats * BASIS_POINTS // expected)


def node_reward(
    params: ChainParams, node: FarmNode, farm: Farm, activity: Activity, epoch: int
) -> NodeReward:
    """Proven storage (capped at the declared disks) and verified compute, at the epoch's
    rates, scaled by uptime; nothing below min_uptime_bp, for a farm slashed in the epoch, or
    for one whose bond is below the minimum."""
    declared = (node.resources.ssd_gb + node.resources.hdd_gb) * GB
    storage = min(activity.space // params.storage_challenges, declared)
    compute = 0
    if activity.compute == VERIFIED:
        compute = proven_milli_cores(params, node.resources.cores, activity.count)
    uptime = uptime_bp(params, node, activity, epoch)
    base = storage * params.reward_per_gib // GIB + compute * params.reward_per_core // 1000
    eligible = (
        uptime >= params.min_uptime_bp
        and farm.slashed_epoch != epoch
        and farm.bond >= params.farm_min_bond
    )
    amount = base * uptime // BASIS_POINTS if eligible else 0
    return NodeReward(epoch, node.id, farm.id, storage, compute, uptime, amount)


def epoch_rewards(state: Overlay, params: ChainParams, epoch: int) -> tuple[NodeReward, ...]:
    """What the epoch pays so far (the running epoch's projection, for farmers)."""
    return rewards_for(state, params, epoch, active_nodes(state, epoch))


def rewards_for(
    state: Overlay, params: ChainParams, epoch: int, active: list[tuple[FarmNode, Activity]]
) -> tuple[NodeReward, ...]:
    """One reward line per active node, by node id."""
    rewards = []
    farms: dict[int, Farm] = {}
    for node, activity in active:
        if node.farm not in farms:
            farm = present(read_farm(state, node.farm), f"farm {node.farm} of node {node.id}")
            farms[node.farm] = farm
        rewards.append(node_reward(params, node, farms[node.farm], activity, epoch))
    return tuple(rewards)


def pay_rewards(state: Overlay, rewards: tuple[NodeReward, ...]) -> None:
    """Credit each farm's payout address with the sum of its nodes' rewards: the only way new
    credits come into being."""
    totals: dict[int, int] = {}
    for r in rewards:
        totals[r.farm] = totals.get(r.farm, 0) + r.amount
    for farm_id in sorted(totals):
        farm = present(read_farm(state, farm_id), f"farm {farm_id}")
        if totals[farm_id]:
            increase_balance(state, farm.payout, totals[farm_id])


# Transactions


# Farms


def check_payout(state: Overlay, payout: Address) -> None:
    if payout.type == AddressType.CONTRACT:
        raise InvalidTransaction(f"payout {payout} is a contract address")
    if payout.type == AddressType.MULTISIG and state.account(payout) is None:
        raise InvalidTransaction(f"no multisig account exists at payout {payout}")


def create_farm(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    owner, payload = tx.body.sender, payload_as(tx, FarmCreate)
    if owner.type != AddressType.KEY:
        raise InvalidTransaction("a farm is owned by a key address")
    if payload.bond < env.params.farm_min_bond:
        raise InvalidTransaction(
            f"bond {payload.bond} is below the minimum farm bond {env.params.farm_min_bond}"
        )
    check_payout(state, payload.payout)
    next_farm, next_node = read_counters(state)
    farm = Farm(next_farm, owner, payload.payout, payload.bond, payload.name)
    state.set_state(farm_key(farm.id), encode_farm(farm))
    state.set_state(COUNTERS_KEY, counters_record(next_farm + 1, next_node))


def owned_farm(state: Overlay, sender: Address, farm_id: int) -> Farm:
    farm = read_farm(state, farm_id)
    if farm is None:
        raise UnknownFarm(f"farm {farm_id} does not exist")
    if farm.owner != sender:
        raise NotOwner(f"farm {farm_id} is owned by {farm.owner}, not {sender}")
    return farm


def update_farm(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    sender, payload = tx.body.sender, payload_as(tx, FarmUpdate)
    farm = owned_farm(state, sender, payload.farm)
    check_payout(state, payload.payout)
    if farm.bond + payload.add_bond > MAX_BALANCE:
        raise InvalidTransaction(f"bond would exceed {MAX_BALANCE}")
    farm = replace(
        farm, name=payload.name, payout=payload.payout, bond=farm.bond + payload.add_bond
    )
    state.set_state(farm_key(farm.id), encode_farm(farm))


def remove_farm(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    sender, payload = tx.body.sender, payload_as(tx, FarmRemove)
    farm = owned_farm(state, sender, payload.farm)
    if farm.nodes:
        raise InvalidTransaction(f"farm {farm.id} still has {farm.nodes} nodes: remove them first")
    state.delete_state(farm_key(farm.id))
    increase_balance(state, sender, farm.bond)


# Nodes


def node_consent_message(chain_id: str, farm: int, node_public_key: bytes) -> bytes:
    """What a node key signs to join a farm: this chain, this farm, this key."""
    return tagged_hash(b"gc/node-consent", encode([chain_id, farm, node_public_key]))


def register_node(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    sender, payload = tx.body.sender, payload_as(tx, NodeRegister)
    farm = owned_farm(state, sender, payload.farm)
    existing = node_id_by_key(state, payload.node_key)
    if existing is not None:
        raise InvalidTransaction(f"node key {payload.node_key.hex()} is already node {existing}")
    message = node_consent_message(env.chain_id, farm.id, payload.node_key)
    if not verify_signature(payload.node_key, message, payload.node_signature):
        raise InvalidProof("node_signature is not the node key's consent to join this farm")
    next_farm, next_node = read_counters(state)
    node = FarmNode(
        next_node,
        farm.id,
        payload.node_key,
        payload.resources,
        payload.location,
        env.height,
        payload.capabilities,
    )
    state.set_state(node_key(node.id), encode_node(node))
    index_node(state, node)
    state.set_state(node_by_key_key(node.key), node.id.to_bytes(8, "big"))
    state.set_state(farm_key(farm.id), encode_farm(replace(farm, nodes=farm.nodes + 1)))
    state.set_state(COUNTERS_KEY, counters_record(next_farm, next_node + 1))


def owned_node(state: Overlay, sender: Address, node_id: int) -> FarmNode:
    node = read_node(state, node_id)
    if node is None:
        raise UnknownNode(f"node {node_id} does not exist")
    owned_farm(state, sender, node.farm)
    return node


def update_node(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    sender, payload = tx.body.sender, payload_as(tx, NodeUpdate)
    old = owned_node(state, sender, payload.node)
    node = replace(
        old,
        resources=payload.resources,
        location=payload.location,
        capabilities=payload.capabilities,
    )
    state.set_state(node_key(node.id), encode_node(node))
    reindex_node(state, old, node)


def remove_node(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    sender, payload = tx.body.sender, payload_as(tx, NodeRemove)
    node = owned_node(state, sender, payload.node)
    farm = present(read_farm(state, node.farm), f"farm {node.farm} of node {node.id}")
    state.delete_state(node_key(node.id))
    state.delete_state(node_by_key_key(node.key))
    state.delete_state(activity_key(node.id))
    state.delete_state(last_seen_key(node.id))
    clear_down(state, node.id)
    unindex_node(state, node)
    state.set_state(farm_key(farm.id), encode_farm(replace(farm, nodes=farm.nodes - 1)))


def sending_node(state: Overlay, sender: Address, node_id: int) -> FarmNode:
    """A node-sent transaction comes from the node's own key address."""
    node = read_node(state, node_id)
    if node is None:
        raise UnknownNode(f"node {node_id} does not exist")
    if key_address(node.key) != sender:
        raise NotOwner(f"only node {node_id}'s own key may send for it")
    return node


def this_epoch(state: Overlay, epoch: int) -> EpochInfo:
    info = current_epoch(state)
    if epoch != info.epoch:
        raise WrongEpoch(f"transaction is for epoch {epoch}; the current epoch is {info.epoch}")
    return info


# Uptime


def heartbeat(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    """Counts for the slot of the block after the one it names, once per slot."""
    sender, payload = tx.body.sender, payload_as(tx, Heartbeat)
    params = env.params
    node = sending_node(state, sender, payload.node)
    if recent_hash(state, payload.ref_height) != payload.ref_hash:
        raise InvalidTransaction(
            f"heartbeat names block {payload.ref_height} with a hash that is not among the "
            f"last {RECENT_HASHES} blocks'"
        )
    slot = slot_of(params, payload.ref_height + 1)
    if slot < slot_of(params, env.height) - 1:
        raise LateAnswer(f"heartbeat for slot {slot} arrives in slot {slot_of(params, env.height)}")
    if payload.ref_height < node.registered_height:
        raise InvalidTransaction("heartbeat names a block before the node was registered")
    epoch = current_epoch(state).epoch
    if epoch_of(params, payload.ref_height + 1) != epoch:
        raise WrongEpoch(f"heartbeat for slot {slot} belongs to an epoch that has ended")
    activity = read_activity(state, node.id, epoch)
    if slot <= activity.last_slot:
        raise AlreadyDone(f"node {node.id} already sent a heartbeat for slot {activity.last_slot}")
    activity = replace(activity, heartbeats=activity.heartbeats + 1, last_slot=slot)
    state.set_state(activity_key(node.id), encode_activity(activity))
    seen_alive(env, state, node.id)


# Storage


def prove_storage(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    """Credit every new valid proof; one invalid, repeated or foreign proof rejects them all."""
    sender, payload = tx.body.sender, payload_as(tx, StorageProofs)
    params = env.params
    node = sending_node(state, sender, payload.node)
    info = this_epoch(state, payload.epoch)
    farm = present(read_farm(state, node.farm), f"farm {node.farm} of node {node.id}")
    claims: dict[bytes, PlotClaim] = {}
    qualities: dict[tuple[bytes, int], list[bytes]] = {}
    activity = read_activity(state, node.id, info.epoch)
    space = 0
    for i, p in enumerate(payload.proofs):
        if p.challenge >= params.storage_challenges:
            raise InvalidProof(
                f"proof {i}: challenge {p.challenge} is not below {params.storage_challenges}"
            )
        if p.k < params.plot_min_k:
            raise InvalidProof(f"proof {i}: plots must have k >= {params.plot_min_k}, not {p.k}")
        plot = plot_id(farm.owner, p.plot_seed)
        if plot not in claims:
            claims[plot] = read_plot_claim(state, plot, info.epoch) or PlotClaim(
                info.epoch, node.id, 0
            )
        claim = claims[plot]
        if claim.node != node.id:
            raise AlreadyDone(f"proof {i}: plot {plot.hex()} is proven by node {claim.node}")
        bit = 1 << p.challenge
        seen = qualities.setdefault((plot, p.challenge), [])
        if claim.challenges & bit and not seen:
            raise AlreadyDone(
                f"proof {i}: challenge {p.challenge} of plot {plot.hex()} was answered"
            )
        quality = proof_quality(plot, p.k, storage_challenge(info.seed, p.challenge), p.proof)
        if quality is None:
            raise InvalidProof(
                f"proof {i} is not a proof of space for challenge {p.challenge} of epoch "
                f"{info.epoch} from plot {plot.hex()} (farm owner {farm.owner})"
            )
        if quality in seen:
            raise AlreadyDone(f"proof {i} repeats a proof of challenge {p.challenge}")
        if len(seen) >= MAX_PROOFS_PER_CHALLENGE:
            raise InvalidProof(f"proof {i}: more than {MAX_PROOFS_PER_CHALLENGE} for a challenge")
        seen.append(quality)
        claims[plot] = replace(claim, challenges=claim.challenges | bit)
        space += plot_bytes(p.k)
    for plot in sorted(claims):
        state.set_state(plot_claim_key(plot), encode_plot_claim(claims[plot]))
    activity = replace(
        activity, space=activity.space + space, proofs=activity.proofs + len(payload.proofs)
    )
    state.set_state(activity_key(node.id), encode_activity(activity))


# Compute


def commit_compute(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    sender, payload = tx.body.sender, payload_as(tx, ComputeCommit)
    params = env.params
    node = sending_node(state, sender, payload.node)
    info = this_epoch(state, payload.epoch)
    activity = read_activity(state, node.id, info.epoch)
    if activity.compute != NONE:
        raise AlreadyDone(f"node {node.id} already answered epoch {info.epoch}'s challenge")
    asked = challenge_height(params, info.start, info.seed, node.id)
    if env.height <= asked:
        raise InvalidTransaction(f"node {node.id}'s challenge is the hash of block {asked}")
    deadline = asked + params.compute_deadline_blocks
    if env.height > deadline:
        raise LateAnswer(
            f"compute answer for block {asked}'s challenge is late: due by height {deadline}"
        )
    wanted = required_units(params, node.resources.cores)
    if payload.count > wanted:
        raise InvalidTransaction(f"count {payload.count} is above the {wanted} units asked for")
    activity = replace(
        activity,
        compute=COMMITTED,
        commit_height=env.height,
        count=payload.count,
        root=payload.root,
    )
    state.set_state(activity_key(node.id), encode_activity(activity))


def reveal_compute(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    """Open the sampled results: each is recomputed; one wrong result slashes the farm."""
    sender, payload = tx.body.sender, payload_as(tx, ComputeReveal)
    params = env.params
    node = sending_node(state, sender, payload.node)
    info = this_epoch(state, payload.epoch)
    activity = read_activity(state, node.id, info.epoch)
    if activity.compute != COMMITTED:
        raise AlreadyDone(f"node {node.id} has no unopened compute commitment ({activity.compute})")
    if env.height <= activity.commit_height:
        raise InvalidTransaction("the samples are drawn from the block holding the commitment")
    due = activity.commit_height + params.compute_reveal_blocks
    if env.height > due:
        raise LateAnswer(f"opening is late: due by height {due}")
    sample_seed = present(recent_hash(state, activity.commit_height), "the commitment's hash")
    seed = present(
        recent_hash(state, challenge_height(params, info.start, info.seed, node.id)),
        "the challenge's hash",
    )
    wanted = sample_indices(sample_seed, node.id, activity.count, params.compute_samples)
    given = tuple(o.index for o in payload.openings)
    if given != wanted:
        raise InvalidTransaction(f"openings must be for indices {list(wanted)}, not {list(given)}")
    right = all(
        verify_inclusion(
            result_leaf(o.index, o.result), o.index, activity.count, o.path, activity.root
        )
        and o.result == work_unit(params, seed, node.id, o.index)
        for o in payload.openings
    )
    activity = replace(activity, compute=VERIFIED if right else FAILED)
    state.set_state(activity_key(node.id), encode_activity(activity))
    if not right:
        slash_farm(state, params, node.farm, info.epoch)


FARM_RULES: dict[type, Callable[[BlockEnv, Overlay, SignedTx], None]] = {
    FarmCreate: create_farm,
    FarmUpdate: update_farm,
    FarmRemove: remove_farm,
    NodeRegister: register_node,
    NodeUpdate: update_node,
    Heartbeat: heartbeat,
    StorageProofs: prove_storage,
    ComputeCommit: commit_compute,
    ComputeReveal: reveal_compute,
}
"""The rule of each farming kind (fee, nonce and bond are moved by the caller first).
NodeRemove's rule is remove_idle_node in chain/deployment/rules.py: a node holding replicas
cannot be removed."""
