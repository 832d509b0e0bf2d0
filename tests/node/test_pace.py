"""The pace of an idle chain: a step the chain scheduled for the next block (a deployment to
place, a grace period that ends) is work, so the proposer does not wait
empty_block_interval_ms for transactions before making that block."""

from dataclasses import dataclass, field
from typing import Any, cast

from chain.address import Address
from chain.deployment.records import QUEUE_KEY, DeploymentRef, encode_queue
from chain.hashing import hash32
from node.consensus.evidence import EvidencePool
from node.consensus.gossip import Gossip
from node.consensus.pace import Pace
from node.service import NodeService

REF = DeploymentRef(Address(bytes([2]) + hash32(b"pace-test")), 1)


@dataclass
class Head:
    height: int


@dataclass
class Store:
    state: dict[bytes, bytes] = field(default_factory=dict)
    reads: int = 0

    def get_state(self, key: bytes) -> bytes | None:
        self.reads += 1
        return self.state.get(key)


@dataclass
class Key:
    public_key: bytes = b"k" * 32


@dataclass
class Node:
    head: Head
    store: Store
    mempool: list[Any] = field(default_factory=list)
    key: Key = field(default_factory=Key)


def pace_over(node: Node) -> Pace:
    return Pace(cast(NodeService, node), cast(EvidencePool, []), cast(Gossip, None))


def queue(*dues: int) -> bytes:
    refs = [DeploymentRef(REF.contract, i + 1) for i in range(len(dues))]
    return encode_queue(tuple(sorted(zip(dues, refs, strict=True))))


def test_an_idle_chain_has_no_work() -> None:
    assert not pace_over(Node(Head(10), Store())).has_work()


def test_a_deployment_due_at_the_next_block_is_work() -> None:
    node = Node(Head(10), Store({QUEUE_KEY: queue(11, 30)}))
    assert pace_over(node).has_work()
    overdue = Node(Head(10), Store({QUEUE_KEY: queue(9)}))
    assert pace_over(overdue).has_work()


def test_a_deployment_due_later_is_not_work_yet() -> None:
    node = Node(Head(10), Store({QUEUE_KEY: queue(14, 50)}))
    pace = pace_over(node)
    assert not pace.has_work()
    node.head = Head(13)  # the queue is looked at again for each new height
    assert pace.has_work()


def test_the_queue_is_read_once_a_height() -> None:
    node = Node(Head(10), Store({QUEUE_KEY: queue(11)}))
    pace = pace_over(node)
    assert pace.has_work() and pace.has_work()
    assert node.store.reads == 1


def test_transactions_are_work_whatever_the_queue() -> None:
    node = Node(Head(10), Store(), mempool=["tx"])
    assert pace_over(node).has_work()
