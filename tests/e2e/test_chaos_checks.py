"""The chaos harness's checkers and schedule, fed what a run could observe: each invariant
catches what breaks it (a checker that could never fire would make a clean run mean nothing),
and the schedule keeps its promises (same seed, same draws; never more than half the
validators at once; nobody down past the downtime budget)."""

from devnet.chaos.checks import (
    ChainView,
    Doubles,
    Liveness,
    billing_problems,
    block_time_problems,
    has_quorum,
    replica_of,
    validator_problems,
)
from devnet.chaos.faults import Schedule, Slots
from devnet.customer import Event
from node.light.client import MAX_CLOCK_DRIFT_MS


def test_a_fork_and_a_lost_final_block_are_caught() -> None:
    view = ChainView()
    assert view.block("node0", 5, "aa") == []
    assert view.block("node1", 5, "aa") == []
    assert view.block("node2", 5, "bb") == ["fork at height 5: node0 has aa, node2 has bb"]
    assert view.height("node1", 9) == []
    assert view.height("node1", 9) == []
    assert view.height("node1", 7) == [
        "node1 answers height 7, having answered 9: final blocks lost"
    ]
    assert view.head == 9


def test_jailing_and_a_cut_stake_are_caught() -> None:
    stakes = {"k1": 1000, "k2": 1000}
    fine = {"validators": [{"public_key": "k1", "blockstake": 1000}], "jailed": []}
    assert validator_problems(fine, stakes) == []
    cut = {"validators": [{"public_key": "k1", "blockstake": 990}], "jailed": []}
    assert validator_problems(cut, stakes) == ["validator k1 lost blockstake: 1000 -> 990"]
    jailed = {"validators": [], "jailed": [{"public_key": "k2", "reason": "downtime"}]}
    assert validator_problems(jailed, stakes) == ["validator k2 is jailed: downtime"]


def test_a_head_dated_beyond_a_light_clients_drift_is_caught() -> None:
    assert block_time_problems("node1", 7, 1_000 + MAX_CLOCK_DRIFT_MS, 1_000) == []
    assert block_time_problems("node1", 7, 61_000 + MAX_CLOCK_DRIFT_MS, 1_000) == [
        "node1's head 7 is dated 70.0 s ahead: light clients refuse it"
    ]


def test_a_quorum_needs_more_than_two_thirds_connected() -> None:
    everyone = lambda a, b: True  # noqa: E731
    assert has_quorum(4, set(), everyone)
    assert has_quorum(4, {3}, everyone)
    assert not has_quorum(4, {2, 3}, everyone)
    split = lambda a, b: (a < 2) == (b < 2)  # noqa: E731 - 0,1 | 2,3
    assert not has_quorum(4, set(), split)
    one_off = lambda a, b: (a == 0) == (b == 0)  # noqa: E731 - 0 | 1,2,3
    assert has_quorum(4, set(), one_off)
    assert not has_quorum(4, {1}, one_off)


def test_a_stall_with_a_quorum_is_caught_once_and_recovery_is_timed() -> None:
    live = Liveness(bound=30)
    assert live.tick(0, 10, quorum=True) == []
    assert live.tick(20, 10, quorum=False) == []  # no quorum: no progress owed
    assert live.tick(100, 10, quorum=False) == []
    assert live.tick(101, 10, quorum=True) == []  # the quorum is back
    assert live.tick(104, 11, quorum=True) == []
    assert live.recoveries == [3]
    assert live.tick(134, 11, quorum=True) == []
    assert live.tick(135, 11, quorum=True) == [
        "no new block for 31 s after height 11 with a quorum up"
    ]
    assert live.tick(200, 11, quorum=True) == []  # said once


def test_a_replica_on_two_live_nodes_past_the_grace_is_caught() -> None:
    assert replica_of("w12-site-0-3c5c4a0a") == (12, "site", 0)
    assert replica_of("w3-my-site-2-ffff") == (3, "my-site", 2)
    doubles = Doubles(grace=20)
    r = (1, "site", 0)
    assert doubles.tick(0, {"farmer1": {r}, "farmer2": set()}) == []
    assert doubles.tick(5, {"farmer1": {r}, "farmer2": {r}}) == []  # the old copy tearing down
    assert doubles.tick(10, {"farmer1": set(), "farmer2": {r}}) == []
    assert doubles.tick(15, {"farmer1": {r}, "farmer2": {r}}) == []
    assert doubles.tick(36, {"farmer1": {r}, "farmer2": {r}}) == [
        "replica (1, 'site', 0) runs on farmer1 and farmer2 for 21 s"
    ]


def _bill(node: int, blocks: int, until: int, height: int) -> Event:
    return Event("bill", height, {"wid": 1, "workload": "site", "index": 0, "node": node,
                                  "blocks": blocks, "until": until})  # fmt: skip


def _step(topic: str, node: int, height: int) -> Event:
    return Event(topic, height, {"wid": 1, "workload": "site", "index": 0, "node": node})


def test_double_billing_and_billing_past_a_nodes_tenure_are_caught() -> None:
    history = {"node": 3, "history": [{"node": 2, "left": 40}], "workload": "site", "index": 0}
    deployments = {1: {"replicas": [history]}}
    fair = [
        _step("placed", 2, 10),
        _bill(2, 20, 30, 30),
        _bill(2, 10, 40, 45),  # billed up to its last heartbeat, in the block that moved it
        _step("moving", 2, 45),
        _step("placed", 3, 47),
        _bill(3, 20, 67, 67),
    ]
    assert billing_problems(fair, deployments) == []
    late = [*fair[:2], _bill(2, 15, 45, 45), *fair[3:]]
    assert billing_problems(late, deployments) == [
        "replica (1, 'site', 0): node 2 billed for blocks 31..45, outside its tenure"
    ]
    twice = [*fair, _bill(2, 5, 65, 66)]
    assert billing_problems(twice, deployments) == [
        "replica (1, 'site', 0): blocks 61..65 billed twice (nodes 3 and 2)",
        "replica (1, 'site', 0): node 2 billed for blocks 61..65, outside its tenure",
    ]


def test_the_schedule_is_the_seeds_and_keeps_its_limits() -> None:
    def draws(seed: int) -> list[str]:
        slots = Slots(4, 3, ["farmer1", "farmer2"])
        schedule = Schedule(seed, slots)
        found, active = [], []
        now = 0.0
        for _ in range(600):
            now += schedule.gap()
            for fault, began in [(f, b) for f, b in active if b + f.seconds <= now]:
                slots.give_back(fault, began, began + fault.seconds)
                active.remove((fault, began))
            fault = schedule.draw(now)
            if fault is None:
                continue
            active.append((fault, now))
            found.append(fault.describe())
            under = {i for f, _ in active if f.kind != "split" for i in f.validators}
            assert len(under) <= 2  # of four: at most half at once
            if fault.kind == "split":
                assert len(under) <= 1
            if fault.kind == "disk_full":
                assert fault.validators == (3,)
            for i in range(4):
                assert slots.budget_left(i, now) >= 0
        return found

    first = draws(7)
    assert first == draws(7)
    assert first != draws(8)
    kinds = {d.split()[1] for d in first}
    assert kinds >= {"kill", "kill_two", "pause", "restart", "split", "isolate", "flap",
                     "disk_full", "clock_skew", "farmer_crash", "torn_wal"}  # fmt: skip
