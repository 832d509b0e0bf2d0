"""The node's API answers read back into the rules' own records, checked as the chain checks
them, so the farmer's agent works from the same types the rules use."""

from dataclasses import fields, replace
from typing import Any

from chain.errors import RuleViolation
from chain.farming.records import COMPUTE_STATES, NO_EPOCH, Activity, EpochInfo, FarmNode
from chain.farming.txs import capabilities_from_value, location_from_value, resources_from_value
from chain.params import ChainParams
from node.api.client import ApiError, NodeClient, answer_field
from node.farmer.agent import ChainView

PARAM_FIELDS = {f.name for f in fields(ChainParams)}


def field_of(view: dict[str, Any], name: str) -> Any:
    if name not in view:
        raise ApiError("bad_response", f"the node's answer has no {name!r}")
    return view[name]


def _bytes(view: dict[str, Any], name: str) -> bytes:
    text = answer_field(view, name, str)
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ApiError("bad_response", f"the node's {name!r} is not hex: {text!r}") from None


def node_from_json(view: dict[str, Any]) -> FarmNode:
    """GET /v1/nodes/{id} as the record the agent works from (checked as the chain checks it)."""
    r, loc = field_of(view, "resources"), field_of(view, "location")
    try:
        resources = resources_from_value([r["cores"], r["memory_mb"], r["ssd_gb"], r["hdd_gb"]])
        location = location_from_value(
            [loc["country"], loc["city"], loc["latitude"], loc["longitude"]]
        )
    except (KeyError, TypeError, RuleViolation) as exc:
        raise ApiError("bad_response", f"the node's resources or location: {exc}") from None
    caps = field_of(view, "capabilities")
    try:
        capabilities = capabilities_from_value(
            {"container": caps["container"], "vm": caps["vm"], "gateway": caps["gateway"] or ""}
        )
    except (KeyError, TypeError, RuleViolation) as exc:
        raise ApiError("bad_response", f"the node's capabilities: {exc}") from None
    return FarmNode(
        id=answer_field(view, "id", int),
        farm=answer_field(view, "farm", int),
        key=_bytes(view, "key"),
        resources=resources,
        location=location,
        registered_height=answer_field(view, "registered_height", int),
        capabilities=capabilities,
    )


def activity_from_json(view: dict[str, Any]) -> Activity:
    compute = answer_field(view, "compute", str)
    if compute not in COMPUTE_STATES:
        raise ApiError("bad_response", f"unknown compute state {compute!r}")
    last_slot = field_of(view, "last_slot")
    commit_height = field_of(view, "commit_height")
    return Activity(
        epoch=answer_field(view, "epoch", int),
        heartbeats=answer_field(view, "heartbeats", int),
        last_slot=NO_EPOCH if last_slot is None else int(last_slot),
        space=answer_field(view, "space", int),
        proofs=answer_field(view, "proofs", int),
        compute=compute,
        commit_height=0 if commit_height is None else int(commit_height),
        count=answer_field(view, "units", int),
        root=_bytes(view, "root"),
    )


def params_from_json(params: dict[str, Any]) -> ChainParams:
    """The farming parameters GET /v1/farming shows, over the defaults for the rest."""
    known = {name: value for name, value in params.items() if name in PARAM_FIELDS}
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in known.values()):
        raise ApiError("bad_response", f"the node's farming parameters are not integers: {params}")
    return replace(ChainParams(), **known)


def chain_view(farming: dict[str, Any], node: dict[str, Any]) -> ChainView | None:
    """What the agent sees, from GET /v1/farming and GET /v1/nodes/{id}; None if the two were
    read at different heights (a block came in between: ask again) or farming has not begun."""
    epoch = farming.get("epoch")
    activity = node.get("activity")
    height = answer_field(farming, "height", int)
    if epoch is None or activity is None or node.get("height") != height:
        return None
    info = EpochInfo(
        answer_field(epoch, "epoch", int), answer_field(epoch, "start", int), _bytes(epoch, "seed")
    )
    recent: dict[int, bytes] = {}
    for item in field_of(farming, "recent_hashes"):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int)):
            raise ApiError("bad_response", f"a recent hash is not [height, hash]: {item!r}")
        recent[item[0]] = _bytes({"recent hash": item[1]}, "recent hash")
    return ChainView(
        height, _bytes(farming, "head_hash"), info, activity_from_json(activity), recent.get
    )


def find_node(client: NodeClient, public_key: bytes) -> dict[str, Any] | None:
    try:
        return client.node_by_key(public_key.hex())
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
