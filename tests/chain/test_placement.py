"""The placement rule over real state records: constraints always hold, the choice is spread
evenly among eligible nodes, capacity is never overbooked, and release gives it all back."""

from collections import Counter
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from chain.deployment.begin import begin_deployment
from chain.deployment.geo import unit_vector, within
from chain.deployment.placement import Budget, Taken, candidate_lists, choose
from chain.deployment.records import (
    ENDED,
    PLACED,
    PLACING,
    DeploymentRef,
    read_deployment,
    read_node_load,
)
from chain.deployment.rules import end_deployment, request_deployment
from chain.deployment.spec import Constraints, Need, decode_spec
from chain.farming.index import list_size, member
from chain.farming.txs import Capabilities, Location
from chain.hashing import hash32
from contracts_std.spec import load_spec, spec_bytes
from tests.kit.deploykit import (
    CONTRACT,
    HEIGHT,
    PARAMS,
    PAYER,
    PLACES,
    env,
    farm_node,
    spec,
    state_with,
)

nodes_strategy = st.lists(
    st.tuples(st.sampled_from(sorted(PLACES)), st.integers(1, 3), st.integers(1, 8), st.booleans()),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(
    nodes=nodes_strategy,
    countries=st.lists(st.sampled_from(sorted(PLACES)), max_size=2, unique=True),
    farms=st.lists(st.integers(1, 3), max_size=2, unique=True),
    near=st.booleans(),
    seed=st.binary(min_size=1, max_size=8),
)
def test_a_chosen_node_meets_every_constraint(
    nodes: list[tuple[str, int, int, bool]],
    countries: list[str],
    farms: list[int],
    near: bool,
    seed: bytes,
) -> None:
    farm_nodes = [farm_node(i + 1, c, farm, cores) for i, (c, farm, cores, _) in enumerate(nodes)]
    down = frozenset(i + 1 for i, (*_, up) in enumerate(nodes) if not up)
    state = state_with(farm_nodes, down)
    circle = {"latitude": PLACES["BE"][0], "longitude": PLACES["BE"][1], "radius_km": 200}
    constraints = decode_spec(
        spec(countries=countries, farms=farms, near=circle if near else {})
    ).constraints
    need = Need(2, 1024, 0, 0)
    choice = choose(
        env(), state, hash32(seed), b"r0", "container", need, constraints, Taken(), Budget()
    )
    eligible = [
        n
        for n in farm_nodes
        if n.id not in down
        and n.resources.cores >= 2
        and (not countries or n.location.country in countries)
        and (not farms or n.farm in farms)
        and (
            not near
            or within(
                unit_vector(*PLACES["BE"]),
                200,
                unit_vector(n.location.latitude, n.location.longitude),
            )
        )
    ]
    if not eligible:
        assert choice.node is None and choice.reason.startswith("no eligible node")
    else:
        assert choice.node in eligible


def test_the_choice_is_spread_evenly_over_eligible_nodes() -> None:
    """400 draws over 4 eligible nodes (of 8; 4 are in the wrong country): each share is
    Binomial(400, 1/4), standard deviation sqrt(400 * 3/16) = 8.7, so 100 +- 35 is +-4 sigma;
    the seeds are fixed, so the test is deterministic."""
    nodes = [farm_node(i, "BE" if i % 2 else "NL") for i in range(1, 9)]
    state = state_with(nodes)
    constraints = Constraints(countries=("BE",))
    counts = Counter(
        choose(
            env(), state, hash32(b"%d" % i), b"x", "container", None, constraints, Taken(), Budget()
        ).node.id  # type: ignore[union-attr]
        for i in range(400)
    )
    assert sorted(counts) == [1, 3, 5, 7]
    assert all(65 <= count <= 135 for count in counts.values()), counts


def test_large_lists_are_sampled_and_still_uniform() -> None:
    """Above SCAN_ALL candidates the rule draws positions instead of scanning: with 100 nodes
    of which every other is down, 2,000 placements give each up node 40 on average
    (sd 6.3); all of them stay within 40 +- 25."""
    nodes = [farm_node(i, "BE") for i in range(1, 101)]
    state = state_with(nodes, down=frozenset(range(2, 101, 2)))
    counts = Counter(
        choose(
            env(),
            state,
            hash32(b"%d" % i),
            b"x",
            "container",
            None,
            Constraints(),
            Taken(),
            Budget(),
        ).node.id  # type: ignore[union-attr]
        for i in range(2000)
    )
    assert set(counts) == set(range(1, 101, 2))
    assert all(15 <= c <= 65 for c in counts.values()), counts


def test_replicas_spread_and_capacity_is_never_overbooked() -> None:
    nodes = [farm_node(1, "BE", farm=1, cores=4), farm_node(2, "NL", farm=1, cores=4)]
    nodes.append(farm_node(3, "DE", farm=2, cores=4))
    state = state_with(nodes)
    # Three replicas of 2 cores on distinct nodes; each node then has 2 cores left.
    first = DeploymentRef(CONTRACT, 1)
    request_deployment(env(HEIGHT - 1), state, CONTRACT, 1, 1, spec(replicas=3), PAYER)
    begin_deployment(env(), state)
    placed = read_deployment(state, first)
    assert placed is not None and placed.state == PLACED
    assert sorted(r.node for r in placed.replicas) == [1, 2, 3]
    assert all(read_node_load(state, n).reserved.cores == 2 for n in (1, 2, 3))
    # Spread by farm: three replicas cannot go to two farms.
    request_deployment(
        env(HEIGHT - 1), state, CONTRACT, 2, 1, spec(replicas=3, spread="farm"), PAYER
    )
    begin_deployment(env(), state)
    by_farm = read_deployment(state, DeploymentRef(CONTRACT, 2))
    assert by_farm is not None and by_farm.state == PLACING
    assert by_farm.message == "web replica 2: no eligible node (spread: 3)"
    end_deployment(env(), state, CONTRACT, 2, "cancelled")
    # Two more 2-core replicas fill two nodes; a third would overbook.
    request_deployment(env(HEIGHT - 1), state, CONTRACT, 3, 1, spec(replicas=3), PAYER)
    begin_deployment(env(), state)
    full = read_deployment(state, DeploymentRef(CONTRACT, 3))
    assert full is not None and full.state == PLACED
    request_deployment(env(HEIGHT - 1), state, CONTRACT, 4, 1, spec(), PAYER)
    begin_deployment(env(), state)
    refused = read_deployment(state, DeploymentRef(CONTRACT, 4))
    assert refused is not None and refused.state == PLACING
    assert refused.message == "web replica 0: no eligible node (capacity: 3)"
    # Ending a deployment gives every core back.
    end_deployment(env(), state, CONTRACT, 1, "cancelled")
    end_deployment(env(), state, CONTRACT, 3, "cancelled")
    assert all(read_node_load(state, n).reserved.cores == 0 for n in (1, 2, 3))
    ended = read_deployment(state, first)
    assert ended is not None and (ended.state, ended.replicas) == (ENDED, ())


def test_placement_is_the_same_for_the_same_seed_and_differs_for_another() -> None:
    nodes = [farm_node(i, "BE") for i in range(1, 21)]
    picks = []
    for seed in (b"a", b"a", b"b", b"c"):
        state = state_with(nodes)
        request_deployment(env(HEIGHT - 1), state, CONTRACT, 1, 1, spec(replicas=3), PAYER)
        begin_deployment(env(seed=seed), state)
        d = read_deployment(state, DeploymentRef(CONTRACT, 1))
        assert d is not None and d.seed == hash32(seed)
        picks.append(tuple(r.node for r in d.replicas))
    assert picks[0] == picks[1]
    assert len(set(picks)) >= 2


def test_a_down_node_and_a_node_without_the_capability_are_never_chosen() -> None:
    nodes = [farm_node(1, "BE"), replace(farm_node(2, "BE"), capabilities=Capabilities(vm=True))]
    nodes.append(farm_node(3, "BE"))
    state = state_with(nodes, down=frozenset({3}))
    for i in range(30):
        choice = choose(
            env(),
            state,
            hash32(b"%d" % i),
            b"x",
            "container",
            None,
            Constraints(),
            Taken(),
            Budget(),
        )
        assert choice.node is not None and choice.node.id == 1
    nothing = choose(
        env(), state, hash32(b"s"), b"x", "vm", Need(64, 1, 0, 0), Constraints(), Taken(), Budget()
    )
    assert nothing.node is None
    assert nothing.reason == "no eligible node (capacity: 1)"


def web_with_name(subdomain: str) -> bytes:
    web = {"type": "container", "name": "web", "image": "host", "cpu": 1, "memory_mb": 256}
    name = {"type": "gateway_name", "name": "site", "subdomain": subdomain, "backends": ["web:80"]}
    return spec_bytes(load_spec({"name": "site", "workloads": [web, name], "budget": 1}))


def test_a_gateway_name_goes_to_a_gateway_once_per_domain_and_is_freed_on_release() -> None:
    gateway = replace(
        farm_node(9, "NL"), capabilities=Capabilities(container=False, gateway="gw.example.org")
    )
    state = state_with([farm_node(1, "BE"), gateway])
    request_deployment(env(HEIGHT - 1), state, CONTRACT, 1, 1, web_with_name("shop"), PAYER)
    begin_deployment(env(), state)
    first = read_deployment(state, DeploymentRef(CONTRACT, 1))
    assert first is not None and first.state == PLACED
    assert [(r.host, r.node) for r in first.routes] == [("shop.gw.example.org", 9)]
    assert [(r.workload, r.node) for r in first.replicas] == [("web", 1)]
    assert [x.name for x in read_node_load(state, 9).routes] == ["site"]
    request_deployment(env(HEIGHT - 1), state, CONTRACT, 2, 1, web_with_name("shop"), PAYER)
    begin_deployment(env(), state)
    second = read_deployment(state, DeploymentRef(CONTRACT, 2))
    assert second is not None and second.state == PLACING
    assert second.message == "gateway site: 'shop' is taken on gateways 9"
    end_deployment(env(), state, CONTRACT, 1, "cancelled")
    assert read_node_load(state, 9).routes == ()
    begin_deployment(env(HEIGHT + PARAMS.placement_retry_blocks), state)
    retried = read_deployment(state, DeploymentRef(CONTRACT, 2))
    assert retried is not None and retried.state == PLACED  # the name is free again


def test_a_block_spends_a_bounded_number_of_checks_on_placements() -> None:
    """64 replicas on distinct nodes, with only 64 of 256 candidates up: the late replicas miss
    their draws and scan, and placing them all takes more checks than a block allows. Queued
    behind a cheap placement it waits for the next block; with a block of its own it is
    refused, saying why, instead of stalling the block."""
    nodes = [farm_node(i, "BE") for i in range(1, 257)]
    state = state_with(nodes, down=frozenset(range(65, 257)))
    request_deployment(env(HEIGHT - 1), state, CONTRACT, 1, 1, spec(cpu=1), PAYER)
    request_deployment(env(HEIGHT - 1), state, CONTRACT, 2, 1, spec(cpu=1, replicas=64), PAYER)
    begin_deployment(env(), state)
    cheap = read_deployment(state, DeploymentRef(CONTRACT, 1))
    costly = read_deployment(state, DeploymentRef(CONTRACT, 2))
    assert cheap is not None and cheap.state == PLACED
    assert costly is not None and costly.state == PLACING
    assert costly.message == "waiting for the next block"  # deferred, not refused
    begin_deployment(env(HEIGHT + 1), state)
    refused = read_deployment(state, DeploymentRef(CONTRACT, 2))
    assert refused is not None and refused.state == PLACING
    assert refused.message == (
        "placing it takes more than the 2048 node checks a block allows: "
        "ask for fewer replicas or narrow the constraints"
    )
    assert all(
        read_node_load(state, n).replicas == () for n in range(2, 65) if n != cheap.replicas[0].node
    )


@settings(max_examples=80, deadline=None)
@given(
    points=st.lists(
        st.tuples(st.integers(-89_000_000, 89_000_000), st.integers(-180_000_000, 180_000_000)),
        min_size=1,
        max_size=30,
    ),
    centre=st.tuples(st.integers(-85_000_000, 85_000_000), st.integers(-180_000_000, 180_000_000)),
    radius=st.one_of(st.integers(1, 700), st.integers(1, 3_000)),
    pick=st.integers(0, 29),
)
def test_the_map_cells_of_a_circle_hold_every_node_inside_it(
    points: list[tuple[int, int]], centre: tuple[int, int], radius: int, pick: int
) -> None:
    """A circle without countries draws from the map cells it touches: no node inside the
    circle may be missed. One node is moved near the centre so the circle is rarely empty."""
    points = list(points)
    points[pick % len(points)] = (
        max(-89_000_000, min(89_000_000, centre[0] + 10_000)),
        centre[1],
    )
    nodes = [
        replace(farm_node(i + 1, "BE"), location=Location("BE", "City", lat, lon))
        for i, (lat, lon) in enumerate(points)
    ]
    state = state_with(nodes)
    circle = {"latitude": centre[0], "longitude": centre[1], "radius_km": radius}
    constraints = decode_spec(spec(near=circle)).constraints
    inside = [
        n.id
        for n in nodes
        if within(
            unit_vector(*centre), radius, unit_vector(n.location.latitude, n.location.longitude)
        )
    ]
    lists = candidate_lists("container", constraints)
    listed = {member(state, c, w, i) for c, w in lists for i in range(list_size(state, c, w))}
    assert set(inside) <= listed
    choice = choose(
        env(), state, hash32(b"x"), b"y", "container", None, constraints, Taken(), Budget()
    )
    assert (choice.node is None) == (not inside)
    assert choice.node is None or choice.node.id in inside
