"""A contract's events never stop a node nor grow its metrics: on a real node over LevelDB, a
contract emits events of the deployment rules' topics carrying values the rules never write
(a workload id or a height out of range: they once raised in the committed block's metrics, on
every node at the same block) and values they do write (a move's cause, a heal): none is taken
for a deployment record, the node keeps committing, and a node syncing those blocks too. Any
failure of the metrics is logged and counted, never raised; a block's time is read from its
header alone, and kept."""

import logging
from pathlib import Path
from typing import Any

import pytest

from chain.address import Address, contract_address, key_address
from chain.blocks.block import Block
from chain.blocks.commit import Commit
from chain.encoding import encode
from chain.errors import present
from chain.hashing import hash32
from chain.keys import KeyPair
from chain.ledger.audit import BLOCK_STEP, NO_TX, AuditEntry
from chain.ledger.contracts import OK, Event
from chain.ledger.execution import Receipt
from chain.ledger.transactions import Call, Deploy, Payload, TxBody, sign_tx
from chain.store import ChainReads
from node.metrics import NodeMetrics
from node.replica_census import ReplicaCensus, deployment_fields, rule_entries
from node.server import build_node
from node.service import NodeService
from tests.kit.support import CHAIN_ID, make_home
from vm.compiler import compile_source
from vm.isa import encode_module

GAS = 300_000
EMITTER = """
from gridchain_contract import emit, public


@public
def say(topic: str, data: bytes) -> None:
    emit(topic, data)
"""
# What the contract emits: each would have been read as a deployment record.
HOSTILE = [
    ("deployed", encode({"wid": -1})),  # wid.to_bytes(8) raised OverflowError
    ("moving", encode({"wid": -(2**63)})),
    ("deployed", encode({"wid": 1, "left": -1})),  # the store's height key raised
    ("deployed", encode({"wid": True, "workload": "site", "index": 0, "version": 1})),
    ("deployed", encode({"wid": 2**63, "left": 1})),
    ("deployed", encode({"wid": 3, "left": 10**15})),  # a height not reached
    *[("moving", encode({"wid": 1, "cause": f"cause-{i}"})) for i in range(5)],  # new series
    # What the rules do write: still a contract's, so neither a move nor a heal.
    ("moving", encode({"wid": 1, "cause": "down"})),
    ("gave_up", encode({"wid": 1, "cause": "failed"})),
    ("deployed", encode({"wid": 7, "workload": "site", "index": 0, "version": 1, "left": 1})),
]


def value(node: NodeService, name: str, /, **labels: str) -> float | None:
    return node.metrics.registry.get_sample_value(name, labels)


def moved_series(node: NodeService) -> list[str]:
    text = node.metrics.render().decode()
    return [line for line in text.splitlines() if line.startswith("gridchain_replicas_moved")]


async def send(node: NodeService, key: KeyPair, payload: Payload) -> bytes:
    sender = key_address(key.public_key)
    fee = node.params.min_fee + GAS * node.params.gas_price
    signed = sign_tx(TxBody(CHAIN_ID, sender, node.next_nonce(sender), fee, payload), [key])
    return node.submit(signed.encoded)


async def deploy_emitter(node: NodeService, key: KeyPair) -> Address:
    sender = key_address(key.public_key)
    address = contract_address(sender, node.next_nonce(sender))
    code = encode_module(compile_source(EMITTER, "emitter.py"))
    tx_id = await send(node, key, Deploy(code, GAS))
    await node.produce_block()
    receipt = present(node.store.receipt(tx_id), "receipt")
    assert receipt.status == OK and receipt.created == address
    return address


def blocks_of(store: ChainReads, last: int) -> list[tuple[Block, Commit]]:
    return [
        (present(store.block_at(h), "block"), present(store.commit_at(h), "commit"))
        for h in range(1, last + 1)
    ]


async def test_a_contracts_hostile_events_neither_stop_the_node_nor_count(tmp_path: Path) -> None:
    th, peer = make_home(tmp_path / "a"), make_home(tmp_path / "b")  # one genesis
    node, sink = build_node(th.home), build_node(peer.home)
    try:
        contract = await deploy_emitter(node, th.alice)
        sent = [
            await send(node, th.alice, Call(contract, "say", event, 0, GAS)) for event in HOSTILE
        ]
        await node.produce_block()  # every event in one block
        height = node.head.height
        for tx_id in sent:
            assert present(node.store.receipt(tx_id), "receipt").status == OK
        emitted = [e for e in node.store.audit_entries(0, 1000) if e.contract == contract.raw]
        assert [(e.topic, e.data) for e in emitted] == HOSTILE  # committed, in the audit log
        for event in HOSTILE[:3]:  # again, a block each
            await send(node, th.alice, Call(contract, "say", event, 0, GAS))
            await node.produce_block()
        await node.produce_block()
        assert node.head.height == height + 4  # the node kept committing
        assert value(node, "gridchain_metrics_errors_total") == 0  # nothing even failed
        assert moved_series(node) == []
        assert value(node, "gridchain_replicas_given_up_total") == 0
        assert value(node, "gridchain_heal_seconds_count") == 0
        assert value(node, "gridchain_deploy_seconds_count") == 0
        assert node.census.counts() == {"assigned": 0, "deployed": 0, "moving": 0, "failed": 0}

        outcome = await sink.apply_synced(blocks_of(node.store, node.head.height))  # one batch
        assert outcome.failure is None and sink.head == node.head
        assert value(sink, "gridchain_metrics_errors_total") == 0
        assert moved_series(sink) == []
        assert value(sink, "gridchain_heal_seconds_count") == 0
    finally:
        node.close()
        sink.close()


async def test_a_failure_of_the_metrics_is_logged_and_counted_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    th = make_home(tmp_path / "a")
    node = build_node(th.home)
    try:
        await node.produce_block()

        def broken(*args: Any) -> list[int]:
            raise RuntimeError("census broke")

        monkeypatch.setattr(node.census, "observe", broken)
        with caplog.at_level(logging.ERROR, logger="gridchain.node"):
            header = await node.produce_block()
            await node.produce_block()
        assert header.height == 2 and node.head.height == 3
        assert value(node, "gridchain_metrics_errors_total") == 2
        failed = [r for r in caplog.records if "metrics of block" in r.getMessage()]
        assert [r.getMessage() for r in failed] == [
            "metrics of block 2 failed; the node goes on without them",
            "metrics of block 3 failed; the node goes on without them",
        ]
        assert all(r.exc_info is not None and "census broke" in str(r.exc_info[1]) for r in failed)
        monkeypatch.undo()
        await node.produce_block()
        assert value(node, "gridchain_metrics_errors_total") == 2
        assert value(node, "gridchain_height") == 4
    finally:
        node.close()


def rule_entry(topic: str, data: bytes, height: int = 5) -> AuditEntry:
    """An entry as a block's own deployment step writes it."""
    contract = Address(bytes([3]) + hash32(b"a deployment's contract")).raw
    return AuditEntry(height, BLOCK_STEP, NO_TX, contract, topic, data)


def test_a_move_is_counted_under_one_of_a_fixed_set_of_causes() -> None:
    metrics = NodeMetrics()
    causes = ["down", "failed", "down", "weird", "x" * 60, ""]
    entries = [rule_entry("moving", encode({"wid": 1, "cause": c})) for c in causes]
    metrics.observe_deployments(entries, 10_000, lambda height: 0)
    text = metrics.render().decode()
    series = sorted(
        line for line in text.splitlines() if line.startswith("gridchain_replicas_moved_total")
    )
    assert series == [
        'gridchain_replicas_moved_total{cause="down"} 2.0',
        'gridchain_replicas_moved_total{cause="failed"} 1.0',
        'gridchain_replicas_moved_total{cause="other"} 3.0',
    ]


def test_only_fields_the_rules_could_write_make_a_deployment_record() -> None:
    bad = [
        {"wid": -1},
        {"wid": 2**63},
        {"wid": True},
        {"wid": "1"},
        {"wid": 1, "left": -1},
        {"wid": 1, "left": 6},  # after the entry's own height
        {"wid": 1, "left": False},
        {"wid": 1, "index": -1},
        {"wid": 1, "version": True},
        {"wid": 1, "workload": 3},
        {"wid": 1, "cause": b"down"},
    ]
    for fields in bad:
        assert deployment_fields(rule_entry("deployed", encode(fields))) is None, fields
    good = {"wid": 2**63 - 1, "left": 5, "index": 0, "version": 1, "workload": "site"}
    assert deployment_fields(rule_entry("deployed", encode(good))) == good
    assert deployment_fields(rule_entry("moving", encode({"wid": 0, "cause": "down"}))) is not None

    class NoState:
        def get_state(self, key: bytes) -> bytes | None:
            return None

    census = ReplicaCensus()  # even were such entries the rules', nothing raises
    entries = [rule_entry("deployed", encode(fields)) for fields in bad]
    assert census.observe(NoState(), entries) == []
    metrics = NodeMetrics()
    metrics.observe_deployments(entries, 10_000, lambda height: 1 // 0)
    assert metrics.registry.get_sample_value("gridchain_heal_seconds_count") == 0


def test_a_contracts_events_are_told_from_the_chain_steps_of_its_transaction() -> None:
    """A call's entries carry its index whoever wrote them: its receipt's events are the
    contract's, what is left the rules' (an event copying a chain step leaves one copy)."""
    contract = Address(bytes([3]) + hash32(b"a contract")).raw
    tx_id = hash32(b"tx")
    step = encode({"wid": 4, "version": 1, "amount": 10, "escrow": 10})
    entries = [
        rule_entry("placed", encode({"wid": 4})),
        AuditEntry(5, 0, tx_id, contract, "funded", step),  # the contract's event
        AuditEntry(5, 0, tx_id, contract, "moving", encode({"wid": 4, "cause": "down"})),
        AuditEntry(5, 0, tx_id, contract, "funded", step),  # the chain step it asked for
        AuditEntry(5, 1, hash32(b"report"), contract, "deployed", encode({"wid": 4})),
    ]
    events = (
        Event(Address(contract), "funded", step),
        Event(Address(contract), "moving", encode({"wid": 4, "cause": "down"})),
    )
    receipts = [Receipt(tx_id, 5, 0, 1, events=events), Receipt(hash32(b"report"), 5, 1, 1)]
    assert rule_entries(entries, receipts) == [entries[0], entries[3], entries[4]]
    assert rule_entries(entries, []) == entries


async def test_a_blocks_time_is_read_from_its_header_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    th = make_home(tmp_path / "a")
    node = build_node(th.home)
    try:
        for _ in range(3):
            await node.produce_block()
        times = {h: present(node.store.block_at(h), "block").header.time_ms for h in (1, 2, 3)}
    finally:
        node.close()
    node = build_node(th.home)  # nothing kept yet
    try:
        reads: list[int] = []
        header_at = node.store.header_at

        def counted(height: int) -> Any:
            reads.append(height)
            return header_at(height)

        def whole_block(height: int) -> Block:
            raise AssertionError("a whole block was decoded for its time")

        monkeypatch.setattr(node.store, "header_at", counted)
        monkeypatch.setattr(node.store, "block_at", whole_block)
        assert [node.time_ms_at(h) for h in (1, 2, 1, 2, 3)] == [times[h] for h in (1, 2, 1, 2, 3)]
        assert reads == [1, 2, 3]
        assert node.time_ms_at(-1) is None and node.time_ms_at(4) is None
        assert node.time_ms_at(2**70) is None and reads == [1, 2, 3]
    finally:
        node.close()
