"""The placement rule: which node each replica goes to, decided by every validator alike.

A replica may go to a node that is registered, up (a heartbeat within node_down_blocks), at or
above the reward threshold of uptime this epoch, has the free capacity the replica reserves,
runs the workload's type, and meets the spec's constraints: pinned nodes, farms, countries, a
circle on the map, and spread (replicas of one workload on distinct nodes always; on distinct
farms or countries when the spec asks). Among those it is chosen uniformly at random, from a
seed nobody knew when the signers signed: the hash of the block before the one that places it.

The candidates come from the node index (chain/farming/index.py): the lists of the workload's
capability for the spec's countries, or the world's. Positions are drawn at random and the node
there tested, up to MAX_DRAWS times; a drawn eligible node is a uniform choice among the
eligible ones. A candidate list of at most MAX_SCAN nodes is scanned whole when the draws keep
missing (few eligible candidates), which also names how many nodes each constraint ruled out; a
longer one never is: the replica is unplaceable for now, with what the draws met and the advice
to narrow the candidates by country. So one replica costs at most MAX_SCAN node checks, however
many nodes there are, and a block spends at most BLOCK_CHECKS on placements (Budget): what does
not fit waits for the next block. Checks are counted, not timed, so every validator stops at
the same place (measured: ~35-70 us per check at 10,000 nodes, docs/benchmarks.md).
"""

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from chain.deployment.geo import (
    EARTH_RADIUS_M,
    FIXED,
    HALF_TURN,
    PI,
    QUARTER_TURN,
    Disc,
    cos_micro_degrees,
    disc,
    unit_vector,
)
from chain.deployment.records import NodeLoad, read_node_load
from chain.deployment.spec import Circle, Compute, Constraints, Need
from chain.env import BlockEnv
from chain.errors import CorruptRecord
from chain.farming.index import (
    CELL_MICRO_DEGREES,
    LATITUDE_CELLS,
    LONGITUDE_CELLS,
    WORLD,
    cell_list,
    cell_of,
    list_size,
    member,
)
from chain.farming.records import FarmNode, read_activity, read_last_seen, read_node
from chain.farming.rules import current_epoch, epoch_start, slot_of
from chain.farming.txs import Resources
from chain.hashing import tagged_hash
from chain.params import BASIS_POINTS
from chain.state import Overlay

MAX_DRAWS = 32
SCAN_ALL = 64  # candidate lists this short are scanned whole at once
MAX_SCAN = 256  # longer ones are only drawn from
BLOCK_CHECKS = 2048  # node checks one block may spend on placements


class OverBudget(Exception):
    """The block's placement checks are spent: the attempt is dropped and tried next block.
    Never leaves a rule: the caller catches it."""


@dataclass
class Budget:
    """Node checks left in this block (mutable: every placement of the block draws on it)."""

    left: int = BLOCK_CHECKS

    def spend(self) -> None:
        if self.left <= 0:
            raise OverBudget
        self.left -= 1


@dataclass(frozen=True)
class Taken:
    """What the other replicas of the same workload hold, for the spread rule; and, for a
    replica being moved, the nodes and farms it should not go to (the node it left, and on a
    first try the farms of the nodes it left, so another farm is preferred)."""

    nodes: frozenset[int] = frozenset()
    farms: frozenset[int] = frozenset()
    countries: frozenset[str] = frozenset()
    avoid_nodes: frozenset[int] = frozenset()
    avoid_farms: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Choice:
    node: FarmNode | None
    ruled_out: tuple[tuple[str, int], ...] = ()  # constraint -> nodes it ruled out
    sampled: int = 0  # > 0: only drawn from this many candidates, not scanned

    @property
    def reason(self) -> str:
        counts = ", ".join(f"{name}: {count}" for name, count in self.ruled_out)
        if self.sampled:
            return (
                f"no eligible node in {MAX_DRAWS} random draws among {self.sampled} candidates "
                f"({counts}); name countries to narrow them"
            )
        return f"no eligible node ({counts or 'no candidates'})"


def is_up(env: BlockEnv, state: Overlay, node: int) -> bool:
    seen = read_last_seen(state, node)
    return seen is not None and env.height - seen <= env.params.node_down_blocks


def meets_uptime(env: BlockEnv, state: Overlay, node: FarmNode) -> bool:
    """Heartbeats in this epoch's finished slots (since registration) at or above
    min_uptime_bp; a node is not judged before a slot has finished."""
    params = env.params
    epoch = current_epoch(state)
    first = max(
        slot_of(params, epoch_start(params, epoch.epoch)),
        slot_of(params, node.registered_height) + 1,
    )
    expected = slot_of(params, env.height) - first
    if expected <= 0:
        return True
    heartbeats = read_activity(state, node.id, epoch.epoch).heartbeats
    return heartbeats * BASIS_POINTS >= params.min_uptime_bp * expected


def free_capacity(node: FarmNode, load: NodeLoad) -> Resources:
    r, used = node.resources, load.reserved
    return Resources(
        r.cores - used.cores,
        r.memory_mb - used.memory_mb,
        r.ssd_gb - used.ssd_gb,
        r.hdd_gb - used.hdd_gb,
    )


def fits(need: Need, free: Resources) -> bool:
    return (
        need.cores <= free.cores
        and need.memory_mb <= free.memory_mb
        and need.ssd_gb <= free.ssd_gb
        and need.hdd_gb <= free.hdd_gb
    )


def ruled_out_by(
    env: BlockEnv,
    state: Overlay,
    node: FarmNode,
    capability: str,
    need: Need | None,
    constraints: Constraints,
    taken: Taken,
    near: Disc | None = None,
) -> str:
    """The first constraint `node` fails, or "" if it may take the replica. `near` is the
    constraints' circle worked out beforehand (a choice tests many nodes against it)."""
    c = constraints
    if capability == "container" and not node.capabilities.container:
        return "type"
    if capability == "vm" and not node.capabilities.vm:
        return "type"
    if c.nodes and node.id not in c.nodes:
        return "pinned nodes"
    if c.farms and node.farm not in c.farms:
        return "farms"
    if c.countries and node.location.country not in c.countries:
        return "countries"
    if c.near is not None:
        area = (
            near if near is not None else disc(c.near.latitude, c.near.longitude, c.near.radius_km)
        )
        if not area.holds(unit_vector(node.location.latitude, node.location.longitude)):
            return "distance"
    if node.id in taken.avoid_nodes:
        return "left"
    if node.farm in taken.avoid_farms:
        return "farm left"
    if node.id in taken.nodes:
        return "spread"
    if c.spread == "farm" and node.farm in taken.farms:
        return "spread"
    if c.spread == "country" and node.location.country in taken.countries:
        return "spread"
    if not is_up(env, state, node.id):
        return "down"
    if not meets_uptime(env, state, node):
        return "uptime"
    if need is not None and not fits(need, free_capacity(node, read_node_load(state, node.id))):
        return "capacity"
    return ""


def circle_of(constraints: Constraints) -> Disc | None:
    c = constraints.near
    return None if c is None else disc(c.latitude, c.longitude, c.radius_km)


def candidate_lists(capability: str, constraints: Constraints) -> tuple[tuple[str, str], ...]:
    """The index lists to draw from: the spec's countries, else the map cells its circle
    touches, else the world."""
    if constraints.countries:
        return tuple((capability, country) for country in constraints.countries)
    cells = None if constraints.near is None else circle_cells(constraints.near)
    if cells is not None:
        return tuple((capability, cell_list(row, column)) for row, column in cells)
    return ((capability, WORLD),)


MAX_CELLS = 64  # a circle touching more cells is large: the world list serves it as well


def circle_cells(circle: Circle) -> list[tuple[int, int]] | None:
    """Every map cell a point within the circle can lie in (a bounding box in latitude and
    longitude, one cell wider on every side against rounding), or None if that is more than
    MAX_CELLS or reaches a pole."""
    radius = circle.radius_km * 1000 * 180_000_000 * FIXED // (PI * EARTH_RADIUS_M) + 1
    low, high = circle.latitude - radius, circle.latitude + radius
    if low <= -QUARTER_TURN or high >= QUARTER_TURN:
        return None
    cos_edge = cos_micro_degrees(max(abs(low), abs(high)))
    span = radius * FIXED // cos_edge + 1
    if span >= HALF_TURN:
        return None
    first_row = max(cell_of(low, 0)[0] - 1, 0)
    last_row = min(cell_of(high, 0)[0] + 1, LATITUDE_CELLS - 1)
    # columns counted on the unwrapped line of longitudes, then wrapped at +-180 degrees
    first_column = (circle.longitude - span + HALF_TURN) // CELL_MICRO_DEGREES - 1
    last_column = (circle.longitude + span + HALF_TURN) // CELL_MICRO_DEGREES + 1
    columns = min(last_column - first_column + 1, LONGITUDE_CELLS)
    if (last_row - first_row + 1) * columns > MAX_CELLS:
        return None
    return [
        (row, (first_column + i) % LONGITUDE_CELLS)
        for row in range(first_row, last_row + 1)
        for i in range(columns)
    ]


def draw(seed: bytes, label: bytes, counter: int, bound: int) -> int:
    """A number in 0..bound-1 from the seed: the same on every validator."""
    digest = tagged_hash(b"gc/placement", seed + label + counter.to_bytes(4, "big"))
    return int.from_bytes(digest, "big") % bound


def choose(
    env: BlockEnv,
    state: Overlay,
    seed: bytes,
    label: bytes,
    capability: str,
    need: Need | None,
    constraints: Constraints,
    taken: Taken,
    budget: Budget,
) -> Choice:
    """A uniformly random eligible node for one replica (or gateway route), or why none is.
    Raises OverBudget when the block's checks run out."""
    near = circle_of(constraints)  # once, not for every node tested

    def test(node_id: int) -> tuple[FarmNode | None, str]:
        budget.spend()
        node = read_node(state, node_id)
        if node is None:
            return None, "registered"
        reason = ruled_out_by(env, state, node, capability, need, constraints, taken, near)
        return (node, "") if not reason else (None, reason)

    if constraints.nodes:
        return _scan(constraints.nodes, test, seed, label)
    lists = candidate_lists(capability, constraints)
    sizes = [list_size(state, cap, country) for cap, country in lists]
    total = sum(sizes)
    if total > SCAN_ALL:
        missed: Counter[str] = Counter()
        for counter in range(MAX_DRAWS):
            node, reason = test(_at(state, lists, sizes, draw(seed, label, counter, total)))
            if node is not None:
                return Choice(node)
            missed[reason] += 1
        if total > MAX_SCAN:
            return Choice(None, tuple(sorted(missed.items())), sampled=total)
    members = (_at(state, lists, sizes, position) for position in range(total))
    return _scan(members, test, seed, label)


def _at(state: Overlay, lists: tuple[tuple[str, str], ...], sizes: list[int], position: int) -> int:
    for (capability, country), size in zip(lists, sizes, strict=True):
        if position < size:
            return member(state, capability, country, position)
        position -= size
    raise CorruptRecord("the node index holds fewer members than its counts say")


def _scan(
    members: Iterator[int] | tuple[int, ...],
    test: Callable[[int], tuple[FarmNode | None, str]],
    seed: bytes,
    label: bytes,
) -> Choice:
    eligible: list[FarmNode] = []
    reasons: Counter[str] = Counter()
    for node_id in members:
        node, reason = test(node_id)
        if node is not None:
            eligible.append(node)
        else:
            reasons[reason] += 1
    if not eligible:
        return Choice(None, tuple(sorted(reasons.items())))
    eligible.sort(key=lambda n: n.id)
    return Choice(eligible[draw(seed, label, MAX_DRAWS, len(eligible))])


def capability_of(compute: Compute) -> str:
    return compute.type  # "container" or "vm": the capability a node must declare


def need_resources(need: Need) -> Resources:
    return Resources(need.cores, need.memory_mb, need.ssd_gb, need.hdd_gb)
