"""Deployment transactions: what a node's agent reports about the replicas placed on it, and
its bills for them.

Only the node key sends them (as heartbeats), so a report cannot come from anyone but the
machine the chain placed the replica on. The rule is in chain/deployment/rules.py.
"""

import ipaddress
from dataclasses import dataclass
from typing import Any

from chain.address import RAW_SIZE, Address
from chain.deployment.records import MAX_ENDPOINT, MAX_MESSAGE, MAX_WID
from chain.encoding import expect_bool, expect_bytes, expect_int, expect_map, expect_text
from chain.errors import EncodingError
from chain.farming.txs import MAX_ID
from chain.ledger.codec import PayloadCodec


@dataclass(frozen=True)
class ReplicaReport:
    """Node `node` says replica (`workload`, `index`) of version `version` of the deployment
    (`contract`, `wid`) is deployed (ok) or failed, with a message (an address, a reason)."""

    node: int
    contract: Address
    wid: int
    version: int
    workload: str
    index: int
    ok: bool
    message: str
    endpoint: str = ""  # where a deployed replica serves: its address on the node's network


@dataclass(frozen=True)
class ReplicaBill:
    """Node `node` bills a deployed replica for the blocks since its last bill; the chain
    computes the amount from what the replica reserves."""

    node: int
    contract: Address
    wid: int
    version: int
    workload: str
    index: int


def _report_to_value(p: ReplicaReport) -> dict[str, Any]:
    return {
        "node": p.node,
        "contract": p.contract.raw,
        "wid": p.wid,
        "version": p.version,
        "workload": p.workload,
        "index": p.index,
        "ok": p.ok,
        "message": p.message,
        "endpoint": p.endpoint,
    }


def _report_from_value(value: Any) -> ReplicaReport:
    f = expect_map(
        value,
        "replica_report",
        ("node", "contract", "wid", "version", "workload", "index", "ok", "message", "endpoint"),
    )
    return ReplicaReport(
        node=expect_int(f["node"], "node", 1, MAX_ID),
        contract=Address(expect_bytes(f["contract"], "contract", RAW_SIZE)),
        wid=expect_int(f["wid"], "wid", 1, MAX_WID),
        version=expect_int(f["version"], "version", 1, MAX_WID),
        workload=expect_text(f["workload"], "workload", 32),
        index=expect_int(f["index"], "index", 0, 1024),
        ok=expect_bool(f["ok"], "ok"),
        message=expect_text(f["message"], "message", MAX_MESSAGE),
        endpoint=_endpoint(f["endpoint"]),
    )


def _endpoint(value: Any) -> str:
    text = expect_text(value, "endpoint", MAX_ENDPOINT)
    if text:
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise EncodingError(f"endpoint {text!r} is not an IP address") from None
    return text


def _bill_to_value(p: ReplicaBill) -> dict[str, Any]:
    return {
        "node": p.node,
        "contract": p.contract.raw,
        "wid": p.wid,
        "version": p.version,
        "workload": p.workload,
        "index": p.index,
    }


def _bill_from_value(value: Any) -> ReplicaBill:
    f = expect_map(
        value, "replica_bill", ("node", "contract", "wid", "version", "workload", "index")
    )
    return ReplicaBill(
        node=expect_int(f["node"], "node", 1, MAX_ID),
        contract=Address(expect_bytes(f["contract"], "contract", RAW_SIZE)),
        wid=expect_int(f["wid"], "wid", 1, MAX_WID),
        version=expect_int(f["version"], "version", 1, MAX_WID),
        workload=expect_text(f["workload"], "workload", 32),
        index=expect_int(f["index"], "index", 0, 1024),
    )


def deployment_payload_to_json(p: ReplicaReport | ReplicaBill) -> dict[str, Any]:
    value = _report_to_value(p) if isinstance(p, ReplicaReport) else _bill_to_value(p)
    return value | {"contract": str(p.contract)}


DeploymentPayload = ReplicaReport | ReplicaBill
DEPLOYMENT_CODECS: tuple[PayloadCodec, ...] = (
    PayloadCodec("replica_report", ReplicaReport, _report_to_value, _report_from_value),
    PayloadCodec("replica_bill", ReplicaBill, _bill_to_value, _bill_from_value),
)
