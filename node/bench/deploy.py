"""`gridchain bench deploy`: what placing a workload costs every validator with up to 10,000
registered nodes, and what one reconcile round costs a farm node's agent with 100 replicas
(node/bench/reconcile.py).

Placement: a real LevelDB chain (ChainStore, mainnet parameters) whose block SETUP_HEIGHT writes
`nodes` nodes as records: farms, nodes, the node index (chain/farming/index.py), a heartbeat in
that block, this epoch's activity, and a load of PRELOAD replicas each (so every node is up,
meets the uptime rule and has room). Each placement is request_deployment (what the VM's DEPLOY
does in the authorizing block) then begin_deployment in the next block (the placement itself),
on a fresh Overlay over the store, as build_block and validate_block run them. The cases are
interleaved, one placement of each per round, so the machine's drift touches them alike.
"""

import gc
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chain.address import Address, key_address
from chain.blockchain import open_chain
from chain.blocks.commit import Commit
from chain.blocks.header import Header
from chain.deployment.begin import begin_deployment
from chain.deployment.geo import disc, unit_vector, within
from chain.deployment.placement import (
    Taken,
    fits,
    free_capacity,
    is_up,
    meets_uptime,
    ruled_out_by,
)
from chain.deployment.records import (
    PLACED,
    Deployment,
    DeploymentRef,
    NodeLoad,
    ReplicaRef,
    encode_node_load,
    node_load_key,
    read_deployment,
    read_node_load,
)
from chain.deployment.rules import request_deployment
from chain.deployment.spec import Constraints, Need
from chain.env import BlockEnv
from chain.farming.index import WORLD, index_node, member
from chain.farming.records import (
    COUNTERS_KEY,
    Activity,
    Farm,
    FarmNode,
    activity_key,
    counters_record,
    encode_activity,
    encode_farm,
    encode_node,
    farm_key,
    last_seen_key,
    last_seen_record,
    node_by_key_key,
    node_key,
    read_node,
)
from chain.farming.rules import slot_of
from chain.farming.txs import Capabilities, Location, Resources
from chain.genesis_state import GenesisState
from chain.hashing import hash32
from chain.keys import keypair_from_seed
from chain.ledger.policy import Signer, make_policy
from chain.params import ChainParams
from chain.staking.validators import make_validator_set, validator_with_key
from chain.state import Overlay, StateReader
from chain.store import ChainStore
from contracts_std.spec import load_spec, spec_bytes
from devnet.network import PARAMS as DEVNET_PARAMS
from node.bench.blocks import produce
from node.bench.reconcile import AgentBench, bench_agent
from node.bench.timing import summary_ms, timed, us

Progress = Callable[[str], None]

CHAIN = "bench-deploy"
GENESIS_TIME = 1_767_225_600_000
PARAMS = ChainParams()  # mainnet defaults: 1 s blocks, heartbeats every 20 blocks
DEVNET_BLOCK_INTERVAL_MS = int(DEVNET_PARAMS["block_interval_ms"])
SETUP_HEIGHT = 100  # the block that writes the nodes: uptime is judged from then on (slot 5)
PRELOAD = 2  # replicas every node already holds (its load record is read and decoded)
PRELOAD_NEED = Resources(2, 2048, 20, 0)  # what each of them reserves
STALL_MS = 100.0  # a placement slower than this at the largest size is investigated
VALIDATOR = keypair_from_seed(hash32(b"bench-deploy/validator"))
CONTRACT = Address(bytes([2]) + hash32(b"bench-deploy/contract"))
PAYER = Address(bytes([1]) + hash32(b"bench-deploy/payer"))

# Where the nodes are: country, nodes per thousand, and a city's coordinates (micro-degrees).
# Iceland gets 2 per thousand: the geo case draws its circle there, where few nodes are.
COUNTRIES = (
    ("US", 200, 40_712_776, -74_005_974),
    ("DE", 150, 52_520_008, 13_404_954),
    ("NL", 100, 52_370_216, 4_895_168),
    ("BE", 80, 51_054_342, 3_717_424),
    ("FR", 70, 48_856_613, 2_352_222),
    ("GB", 60, 51_507_351, -127_758),
    ("CH", 50, 47_376_887, 8_541_694),
    ("AT", 40, 48_208_174, 16_373_819),
    ("ES", 35, 40_416_775, -3_703_790),
    ("IT", 35, 41_902_783, 12_496_366),
    ("SE", 30, 59_329_323, 18_068_581),
    ("FI", 25, 60_169_856, 24_938_379),
    ("PL", 25, 52_229_676, 21_012_229),
    ("CZ", 20, 50_075_538, 14_437_800),
    ("EG", 20, 30_044_420, 31_235_712),
    ("IN", 20, 19_075_984, 72_877_656),
    ("BR", 15, -23_550_520, -46_633_309),
    ("JP", 15, 35_676_192, 139_650_311),
    ("AU", 8, -33_868_820, 151_209_296),
    ("IS", 2, 64_146_582, -21_942_635),
)
SPREAD_MICRO = 1_000_000  # nodes are scattered up to a degree around their country's city
GEO_CENTRE = (64_146_582, -21_942_635)  # Reykjavik
GEO_RADIUS_KM = 200
TWO_COUNTRIES = ["BE", "NL"]
CORES = (8, 16, 32, 64)  # node sizes, in turn; no node has more than 64 cores
UNSATISFIABLE_CPU = 256  # above every node: the spec nobody can satisfy


# The grid


def _country_cycle() -> list[tuple[str, int, int]]:
    """1,000 slots in which each country has its weight's share, interleaved (stride
    scheduling), so any run of nodes is spread over the countries in proportion."""
    slots = sorted(
        ((k + 0.5) * 1000 / weight, code, lat, lon)
        for code, weight, lat, lon in COUNTRIES
        for k in range(weight)
    )
    return [(code, lat, lon) for _, code, lat, lon in slots]


CYCLE = _country_cycle()


def _jitter(digest: bytes, at: int, span: int) -> int:
    return int.from_bytes(digest[at : at + 4], "big") % (2 * span + 1) - span


def grid_node(node_id: int, farms: int) -> FarmNode:
    """Node `node_id` of the benchmark's grid: its country from the cycle, scattered around
    that country's city (Iceland's within ~75 km of Reykjavik), on a farm drawn from its id."""
    code, lat, lon = CYCLE[(node_id - 1) % len(CYCLE)]
    digest = hash32(b"bench-deploy/node/%d" % node_id)
    lat_span = SPREAD_MICRO // 2 if code == "IS" else SPREAD_MICRO
    cores = CORES[node_id % len(CORES)]
    return FarmNode(
        id=node_id,
        farm=1 + int.from_bytes(digest[8:12], "big") % farms,
        key=digest,
        resources=Resources(cores, cores * 4096, 2000, 8000 if node_id % 3 == 0 else 0),
        location=Location(
            code,
            f"city-{code}",
            lat + _jitter(digest, 0, lat_span),
            lon + _jitter(digest, 4, SPREAD_MICRO),
        ),
        registered_height=1,
        capabilities=Capabilities(container=True, vm=node_id % 2 == 0),
    )


class _Empty:
    def get_state(self, key: bytes) -> bytes | None:
        return None


def preload(node_id: int) -> NodeLoad:
    refs = tuple(
        ReplicaRef(DeploymentRef(CONTRACT, 10**9 + node_id * PRELOAD + i), "web", 0)
        for i in range(PRELOAD)
    )
    need = PRELOAD_NEED
    reserved = Resources(
        need.cores * PRELOAD, need.memory_mb * PRELOAD, need.ssd_gb * PRELOAD, need.hdd_gb * PRELOAD
    )
    return NodeLoad(reserved, refs)


def grid_records(nodes: list[FarmNode], farms: int, height: int) -> dict[bytes, bytes]:
    """Every record the grid's nodes have in the state at `height`: farms, nodes, the node
    index, last seen at `height`, a heartbeat in every slot of this epoch, their loads."""
    state = Overlay(_Empty())
    members = {f: 0 for f in range(1, farms + 1)}
    for node in nodes:
        members[node.farm] += 1
    for f, count in members.items():
        owner = key_address(hash32(b"bench-deploy/farm/%d" % f))
        farm = Farm(f, owner, owner, PARAMS.farm_min_bond, f"farm-{f}", count)
        state.set_state(farm_key(f), encode_farm(farm))
    slot = slot_of(PARAMS, height)
    activity = encode_activity(Activity(epoch=0, heartbeats=slot, last_slot=slot))
    for node in nodes:
        state.set_state(node_key(node.id), encode_node(node))
        state.set_state(node_by_key_key(node.key), node.id.to_bytes(8, "big"))
        index_node(state, node)
        state.set_state(last_seen_key(node.id), last_seen_record(height))
        state.set_state(activity_key(node.id), activity)
        state.set_state(node_load_key(node.id), encode_node_load(preload(node.id)))
    state.set_state(COUNTERS_KEY, counters_record(farms + 1, len(nodes) + 1))
    return {key: value for key, value in state.records.items() if value is not None}


def _genesis() -> GenesisState:
    return GenesisState(
        chain_id=CHAIN,
        genesis_time_ms=GENESIS_TIME,
        balances=((key_address(VALIDATOR.public_key), 10**12),),
        validators=make_validator_set([validator_with_key(VALIDATOR, 1000, "v")]),
        council=make_policy([Signer(VALIDATOR.public_key, 1)], 1),
        params=PARAMS,
        contracts=(),
    )


def build_grid(store: ChainStore, nodes: int, farms: int, say: Progress) -> Header:
    """Blocks 1..SETUP_HEIGHT, the last writing the grid; the head."""
    head = open_chain(store, _genesis())
    last_commit: Commit | None = None
    while head.height < SETUP_HEIGHT - 1:
        head, last_commit = produce(store, head, last_commit, CHAIN, VALIDATOR, {})
    say(f"  writing {nodes:,} nodes on {farms} farms into block {SETUP_HEIGHT}...")
    grid = [grid_node(i, farms) for i in range(1, nodes + 1)]
    records = grid_records(grid, farms, SETUP_HEIGHT)
    head, _ = produce(store, head, last_commit, CHAIN, VALIDATOR, records)
    return head


# The placement cases


def _spec(cpu: int = 2, memory_mb: int = 2048, **placement: object) -> bytes:
    workload = {
        "type": "container",
        "name": "web",
        "image": "host",
        "cpu": cpu,
        "memory_mb": memory_mb,
        "entrypoint": "python3 -m http.server 8000",
        "ports": [8000],
    }
    document = {"name": "web", "workloads": [workload], "placement": placement, "budget": 1}
    return spec_bytes(load_spec(document))


@dataclass(frozen=True)
class Case:
    name: str
    what: str
    spec: bytes
    replicas: int
    placeable: bool | None  # what the case expects at 1,000 nodes and up (None: either)
    adversarial: bool = False  # slow on purpose: timed fewer times


def cases(nodes: int) -> list[Case]:
    circle = {"latitude": GEO_CENTRE[0], "longitude": GEO_CENTRE[1], "radius_km": GEO_RADIUS_KM}
    pinned = sorted({max(1, nodes // 4), max(1, nodes // 2), max(1, 3 * nodes // 4)})
    return [
        Case("a", "no constraints, 1 replica", _spec(), 1, True),
        Case(
            "b",
            f"countries {'+'.join(TWO_COUNTRIES)}, 3 replicas, spread farm",
            _spec(countries=TWO_COUNTRIES, replicas=3, spread="farm"),
            3,
            True,
        ),
        Case(
            "c",
            f"within {GEO_RADIUS_KM} km of Reykjavik in IS, 1 replica",
            _spec(countries=["IS"], near=circle),
            1,
            True,
        ),
        Case(
            "c0",
            f"within {GEO_RADIUS_KM} km of Reykjavik, no country named (the map cells it touches)",
            _spec(near=circle),
            1,
            True,
        ),
        Case(
            "d",
            f"pinned to nodes {pinned}, {len(pinned)} replicas",
            _spec(nodes=pinned, replicas=len(pinned)),
            len(pinned),
            True,
        ),
        Case(
            "e",
            f"cpu {UNSATISFIABLE_CPU}, above every node (nobody can take it)",
            _spec(cpu=UNSATISFIABLE_CPU),
            1,
            False,
        ),
        Case(
            "f",
            f"within {GEO_RADIUS_KM} km of Reykjavik, 64 replicas (more than the nodes there)",
            _spec(countries=["IS"], near=circle, replicas=64),
            64,
            False,
            adversarial=True,
        ),
    ]


class CountingReader:
    """A state reader that counts the reads that reach it."""

    def __init__(self, base: StateReader) -> None:
        self.base = base
        self.reads = 0

    def get_state(self, key: bytes) -> bytes | None:
        self.reads += 1
        return self.base.get_state(key)


def scan_steps(store: ChainStore, head: Header, nodes: int, repeats: int = 3) -> dict[str, float]:
    """Microseconds per node tested for each step of a full scan (one loop over every node of
    the world container list per step, through the two overlays a placement reads through;
    the median of `repeats`); "test (case e)" is a whole test that ends at capacity."""
    _, env = _envs(head, 0)
    state = Overlay(Overlay(store))
    ids = [member(state, "container", WORLD, p) for p in range(nodes)]
    records = [read_node(state, i) for i in ids]
    grid = [n for n in records if n is not None]
    area = disc(GEO_CENTRE[0], GEO_CENTRE[1], GEO_RADIUS_KM)
    need = Need(UNSATISFIABLE_CPU, 2048, 0, 0)
    nothing = Constraints()
    steps: dict[str, Callable[[], object]] = {
        "index member": lambda: [member(state, "container", WORLD, p) for p in range(nodes)],
        "read node": lambda: [read_node(state, i) for i in ids],
        "distance": lambda: [
            area.holds(unit_vector(n.location.latitude, n.location.longitude)) for n in grid
        ],
        "up": lambda: [is_up(env, state, n.id) for n in grid],
        "uptime": lambda: [meets_uptime(env, state, n) for n in grid],
        "load and fits": lambda: [
            fits(need, free_capacity(n, read_node_load(state, n.id))) for n in grid
        ],
        "test (case e)": lambda: [
            ruled_out_by(env, state, n, "container", need, nothing, Taken()) for n in grid
        ],
    }
    runs: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            runs[name].append(timed(step)[0])
    return {name: us(statistics.median(t) / len(grid)) for name, t in runs.items()}


def _envs(head: Header, round_: int) -> tuple[BlockEnv, BlockEnv]:
    """The block that authorizes (the VM's DEPLOY) and the next one, which places."""
    proposer = key_address(VALIDATOR.public_key)
    request = BlockEnv(CHAIN, head.height + 1, head.time_ms + 1000, proposer, PARAMS, head.hash)
    seed = hash32(b"bench-deploy/block/%d" % round_)  # a different parent hash each round
    place = BlockEnv(CHAIN, head.height + 2, head.time_ms + 2000, proposer, PARAMS, seed)
    return request, place


def place_once(
    reader: StateReader, head: Header, case: Case, wid: int, round_: int
) -> tuple[float, float, Deployment, Overlay]:
    """(request seconds, placement seconds, the deployment after, the state)."""
    request_env, place_env = _envs(head, round_)
    state = Overlay(reader)
    start = time.perf_counter()
    request_deployment(request_env, state, CONTRACT, wid, 1, case.spec, PAYER)
    requested = time.perf_counter()
    begin_deployment(place_env, state)
    placed = time.perf_counter()
    d = read_deployment(state, DeploymentRef(CONTRACT, wid))
    if d is None:
        raise RuntimeError(f"case {case.name}: the deployment vanished")
    return requested - start, placed - requested, d, state


def check_placement(case: Case, d: Deployment, state: Overlay, nodes: int) -> None:
    """The placement did what the case says (so the timing is of the real work)."""
    if case.placeable is None:
        return
    if case.placeable and nodes >= 1000 and d.state != PLACED:
        raise RuntimeError(f"case {case.name} was not placed: {d.message}")
    if not case.placeable and d.state == PLACED:
        raise RuntimeError(f"case {case.name} was placed, but nobody should take it")
    if d.state != PLACED:
        return
    if len(d.replicas) != case.replicas:
        raise RuntimeError(f"case {case.name}: {len(d.replicas)} replicas placed")
    placed = [read_node(state, r.node) for r in d.replicas]
    if case.name == "b":
        if any(n is None or n.location.country not in TWO_COUNTRIES for n in placed):
            raise RuntimeError("case b: a replica outside its countries")
        if len({n.farm for n in placed if n is not None}) != len(placed):
            raise RuntimeError("case b: two replicas on one farm")
    if case.name == "c":
        centre = unit_vector(*GEO_CENTRE)
        for n in placed:
            if n is None or not within(
                centre, GEO_RADIUS_KM, unit_vector(n.location.latitude, n.location.longitude)
            ):
                raise RuntimeError("case c: a replica outside the circle")


@dataclass(frozen=True)
class CaseResult:
    case: Case
    request_s: list[float]
    place_s: list[float]
    placed: int
    message: str  # why the last unplaced one was not placed
    reads: int  # state reads of one placement (request and place), counted apart

    def to_json(self) -> dict[str, Any]:
        total = [r + p for r, p in zip(self.request_s, self.place_s, strict=True)]
        median = statistics.median(total) * 1000
        return {
            "case": self.case.name,
            "what": self.case.what,
            "replicas": self.case.replicas,
            "placements": len(total),
            "placed": self.placed,
            "message": self.message,
            "state_reads": self.reads,
            "request_us_median": us(statistics.median(self.request_s)),
            "place_ms": summary_ms(self.place_s),
            "total_ms": summary_ms(total),
            "pct_of_devnet_interval": round(100 * median / DEVNET_BLOCK_INTERVAL_MS, 2),
            "pct_of_default_interval": round(100 * median / PARAMS.block_interval_ms, 2),
        }


@dataclass(frozen=True)
class SizeResult:
    nodes: int
    farms: int
    in_circle: int
    setup_s: float
    results: list[CaseResult]
    scan_us: dict[str, float]  # per node tested, by step (scan_steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": self.nodes,
            "farms": self.farms,
            "nodes_in_circle": self.in_circle,
            "setup_s": round(self.setup_s, 2),
            "cases": {r.case.name: r.to_json() for r in self.results},
            "scan_us_per_node": self.scan_us,
        }


@dataclass(frozen=True)
class Rounds:
    """How much placing to time at each size."""

    placements: int = 50  # rounds: one placement of each case per round
    adversarial: int = 5  # rounds that also place the adversarial case (seconds each)
    farms: int = 50
    only: str = ""  # the letters of the cases to run ("" all)


def bench_size(nodes: int, rounds: Rounds, say: Progress) -> SizeResult:
    with tempfile.TemporaryDirectory(prefix="gridchain-bench-deploy-") as tmp:
        store = ChainStore(str(Path(tmp) / "chain.db"))
        try:
            return _bench_size(store, nodes, rounds, say)
        finally:
            store.close()


def nodes_in_circle(nodes: int, farms: int) -> int:
    centre = unit_vector(*GEO_CENTRE)
    return sum(
        within(centre, GEO_RADIUS_KM, unit_vector(n.location.latitude, n.location.longitude))
        for n in (grid_node(i, farms) for i in range(1, nodes + 1))
    )


def _bench_size(store: ChainStore, nodes: int, rounds: Rounds, say: Progress) -> SizeResult:
    say(f"{nodes:,} nodes: building the chain (LevelDB, {SETUP_HEIGHT} blocks)...")
    start = time.perf_counter()
    head = build_grid(store, nodes, rounds.farms, say)
    setup_s = time.perf_counter() - start
    in_circle = nodes_in_circle(nodes, rounds.farms)
    chosen = [c for c in cases(nodes) if not rounds.only or c.name in rounds.only]
    times: dict[str, tuple[list[float], list[float]]] = {c.name: ([], []) for c in chosen}
    outcome: dict[str, tuple[int, str]] = {c.name: (0, "") for c in chosen}
    say(
        f"{nodes:,} nodes: {rounds.placements} rounds of one placement of each case, the "
        f"adversarial one in the first {rounds.adversarial} ({in_circle} nodes in the circle)..."
    )
    step = max(1, rounds.placements // 5)
    for round_ in range(rounds.placements):
        for number, case in enumerate(chosen):
            if case.adversarial and round_ >= rounds.adversarial:
                continue
            wid = 1 + round_ * len(chosen) + number
            request_s, place_s, d, state = place_once(store, head, case, wid, round_)
            check_placement(case, d, state, nodes)
            times[case.name][0].append(request_s)
            times[case.name][1].append(place_s)
            placed, message = outcome[case.name]
            outcome[case.name] = (placed + (d.state == PLACED), d.message or message)
        if (round_ + 1) % step == 0 and round_ + 1 < rounds.placements:
            medians = ", ".join(
                f"{name} {statistics.median(t[1]) * 1000:.1f}" for name, t in times.items() if t[1]
            )
            say(f"  {round_ + 1}/{rounds.placements} rounds; median ms so far: {medians}")
    results = []
    for case in chosen:
        if not times[case.name][1]:
            continue
        counter = CountingReader(store)  # one more placement, untimed, to count its reads
        place_once(counter, head, case, 10**8, 0)
        results.append(CaseResult(case, *times[case.name], *outcome[case.name], counter.reads))
    say(f"{nodes:,} nodes: each step of a scan, over every node...")
    steps = scan_steps(store, head, nodes)
    return SizeResult(nodes, rounds.farms, in_circle, setup_s, results, steps)


# The command


@dataclass(frozen=True)
class DeployBench:
    sizes: list[SizeResult]
    agent: AgentBench

    def to_json(self) -> dict[str, Any]:
        largest = self.sizes[-1] if self.sizes else None
        stalls = (
            []
            if largest is None
            else [
                r.case.name
                for r in largest.results
                if statistics.median([a + b for a, b in zip(r.request_s, r.place_s, strict=True)])
                * 1000
                > STALL_MS
            ]
        )
        return {
            "params": {
                "block_interval_ms": PARAMS.block_interval_ms,
                "devnet_block_interval_ms": DEVNET_BLOCK_INTERVAL_MS,
                "placement_retry_blocks": PARAMS.placement_retry_blocks,
                "node_down_blocks": PARAMS.node_down_blocks,
            },
            "store": "LevelDB (ChainStore), a fresh Overlay per placement",
            "placement": [s.to_json() for s in self.sizes],
            "over_stall_ms": {"threshold_ms": STALL_MS, "cases": stalls},
            "agent": self.agent.to_json(),
        }


def bench_deploy(
    sizes: list[int],
    rounds: Rounds = Rounds(),
    agent: tuple[int, int, int] = (100, 10, 200),
    sandbox_starts: int = 0,
    say: Progress = lambda _: None,
) -> DeployBench:
    """Placement at each size in `sizes` (nodes), then the agent: `agent` is (replicas, of
    which missing, rounds)."""
    results = []
    for nodes in sizes:
        gc.collect()
        results.append(bench_size(nodes, rounds, say))
    replicas, missing, agent_rounds = agent
    return DeployBench(results, bench_agent(replicas, missing, agent_rounds, say, sandbox_starts))


__all__ = [
    "Case",
    "CaseResult",
    "DeployBench",
    "Rounds",
    "SizeResult",
    "bench_deploy",
    "bench_size",
    "cases",
    "grid_node",
    "grid_records",
]
