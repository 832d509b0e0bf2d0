"""`gridchain workload ...`: IT contracts from the command line.

A workload spec is validated here (contracts_std/spec.py) before anything is signed; approving
shows what is approved and checks, on this machine, that the hash the signer signs is the hash
of that spec, version and requirement (the node is not trusted to say what is being signed).
"""

import json
from pathlib import Path
from typing import Any

import click

from chain.errors import InvalidSpec
from chain.hashing import hash32
from chain.ledger.transactions import Call
from contracts_std.requirement import (
    RequiredSigner,
    Requirement,
    decode_requirement,
    encode_requirement,
    make_requirement,
    signing_hash,
    workload_address,
)
from contracts_std.spec import load_spec_file, spec_bytes, spec_hash
from node.api.client import ApiError, NodeClient, answer_field
from node.cli.common import (
    CliError,
    keystore_options,
    node_client,
    node_option,
    open_keystore,
)
from node.cli.contract import gas_options, query_value, send, unlock
from node.cli.follow import (
    Measure,
    Sample,
    Screen,
    Watch,
    follow,
    format_duration,
    stdout_is_terminal,
    watch_options,
)
from node.cli.output import emit, json_option
from node.keystore import Keystore

MAX_SPEC_BYTES = 8192


def public_key_of(store: Keystore, text: str) -> bytes:
    """A keystore key name or 64 hex characters."""
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    return bytes.fromhex(store.show(text).public_key)


def parse_requirement(
    store: Keystore, items: tuple[str, ...], threshold: int | None
) -> Requirement:
    if not items:
        raise CliError("give the signers with --require KEY[:WEIGHT][:required]")
    signers = []
    for item in items:
        parts = item.split(":")
        if not 1 <= len(parts) <= 3 or (len(parts) == 3 and parts[2] != "required"):
            raise CliError(f"--require {item!r}: expected KEY[:WEIGHT][:required]")
        weight = 1
        if len(parts) >= 2 and parts[1] != "required":
            if not parts[1].isdigit():
                raise CliError(f"--require {item!r}: weight {parts[1]!r} is not a number")
            weight = int(parts[1])
        required = parts[-1] == "required" and len(parts) > 1
        signers.append(RequiredSigner(public_key_of(store, parts[0]), weight, required))
    total = sum(s.weight for s in signers)
    return make_requirement(signers, total if threshold is None else threshold)


def requirement_to_json(requirement: Requirement) -> dict[str, Any]:
    return {
        "threshold": requirement.threshold,
        "signers": [
            {"public_key": s.public_key.hex(), "weight": s.weight, "required": s.required}
            for s in requirement.signers
        ],
    }


def load_spec_bytes(path: Path) -> tuple[dict[str, Any], bytes]:
    spec = load_spec_file(path)
    data = spec_bytes(spec)
    if len(data) > MAX_SPEC_BYTES:
        raise InvalidSpec(f"spec is {len(data)} bytes encoded; the limit is {MAX_SPEC_BYTES}")
    return spec, data


REPLICA_FIELDS = (
    "workload",
    "index",
    "node",
    "country",
    "state",
    "message",
    "failures",
    "retry_at",
    "history",
)


def workload_view(client: NodeClient, wid: int) -> dict[str, Any]:
    contract = str(workload_address())
    state = query_value(client, contract, "status", wid)
    if not state:
        raise CliError(f"there is no workload {wid}", "not_found")
    version = query_value(client, contract, "version_of", wid)
    requirement_bytes = query_value(client, contract, "requirement_of", wid)
    requirement = decode_requirement(requirement_bytes)
    spec = query_value(client, contract, "spec_of", wid)
    signers = []
    for s in requirement.signers:
        signed = query_value(client, contract, "has_signed", wid, version, s.public_key)
        signers.append(
            {
                "public_key": s.public_key.hex(),
                "weight": s.weight,
                "required": s.required,
                "signed": bool(signed),
            }
        )
    owner = query_value(client, contract, "owner_of", wid)
    deployment = deployment_of(client, contract, wid)
    return {
        "id": wid,
        "state": state,
        "version": version,
        "owner": owner.hex(),
        "spec_hash": hash32(spec).hex(),
        "threshold": requirement.threshold,
        "signed_weight": query_value(client, contract, "signed_weight", wid),
        "missing_required": query_value(client, contract, "missing_required", wid),
        "signers": signers,
        "signing_hash": query_value(client, contract, "signing_hash", wid).hex(),
        "deployment": deployment,
        "replicas": [
            {k: r[k] for k in REPLICA_FIELDS} for r in (deployment or {}).get("replicas", [])
        ],
        "url": next((r["url"] for r in (deployment or {}).get("routes", [])), None),
    }


def deployment_of(client: NodeClient, contract: str, wid: int) -> dict[str, Any] | None:
    """What the chain did with the workload: None until a version was authorized."""
    try:
        view = client.deployment(contract, wid)
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise
    return {
        k: view[k]
        for k in (
            "state",
            "message",
            "version",
            "escrow",
            "grace_since",
            "seed",
            "replicas",
            "routes",
        )
    }


# Following a workload to deployed


def watched_view(client: NodeClient, wid: int) -> dict[str, Any]:
    """What a watch reads each round: the contract's state and version and the chain's
    deployment (three reads, not the signers' that `workload status` shows)."""
    contract = str(workload_address())
    state = query_value(client, contract, "status", wid)
    if not state:
        raise CliError(f"there is no workload {wid}", "not_found")
    return {
        "id": wid,
        "state": state,
        "version": query_value(client, contract, "version_of", wid),
        "deployment": deployment_of(client, contract, wid),
    }


WATCHED_REPLICA_FIELDS = ("workload", "index", "node", "country", "state", "message")


def deployment_sample(view: dict[str, Any]) -> Sample:
    """A watch's sample of workload `view` (watched_view): its replicas deployed of all of them,
    deployed once the chain placed its current version and every replica's node reported it
    running; failed once that cannot happen any more. Its change is everything a line shows."""
    wid, state, version = view["id"], view["state"], view["version"]
    deployment = view["deployment"]
    replicas = [
        {k: r.get(k) for k in WATCHED_REPLICA_FIELDS}
        for r in (deployment or {}).get("replicas", [])
    ]
    by_state: dict[str, int] = {}
    for r in replicas:
        by_state[r["state"]] = by_state.get(r["state"], 0) + 1
    nodes = sorted({r["node"] for r in replicas if r["node"] is not None})
    placed = (
        state == "authorized"
        and deployment is not None
        and deployment["state"] == "placed"
        and deployment["version"] == version
    )
    deployed = placed and by_state.get("deployed", 0) == len(replicas)
    failed = deployment_failure(wid, state, deployment, replicas)
    sample_view = {
        "id": wid,
        "state": state,
        "version": version,
        "deployment_state": None if deployment is None else deployment["state"],
        "message": None if deployment is None else deployment["message"] or None,
        "paused": bool(deployment and deployment["grace_since"]),
        "by_state": by_state,
        "nodes": nodes,
        "replicas": replicas,
        "url": next((r["url"] for r in (deployment or {}).get("routes", []) if r["url"]), None),
        "deployed": deployed,
    }
    change = json.dumps(sample_view, sort_keys=True)
    return Sample(
        sample_view,
        done=by_state.get("deployed", 0) if deployment is not None else None,
        total=len(replicas) if deployment is not None else None,
        unit="replicas",
        reached=deployed and failed is None,
        failed=failed,
        change=change,
    )


def deployment_failure(
    wid: int, state: str, deployment: dict[str, Any] | None, replicas: list[dict[str, Any]]
) -> str | None:
    """Why workload `wid` can no longer become deployed; None while it still can."""
    if state in ("expired", "cancelled"):
        return f"workload {wid} is {state}"
    if deployment is not None:
        why = f": {deployment['message']}" if deployment["message"] else ""
        if deployment["state"] == "expired":
            return f"workload {wid} was never placed before its request expired{why}"
        if deployment["state"] == "ended":
            return f"the deployment of workload {wid} ended{why}"
    for r in replicas:
        if r["state"] == "failed":
            return f"replica {r['workload']}/{r['index']} of workload {wid} failed: {r['message']}"
    return None


def deployment_line(sample: Sample, measure: Measure) -> str:
    """`[12.3 s] workload 3: placed, 1 deployed, 1 assigned: site/0 on node 2 (NL) deployed,
    ...`: one line per change, what it is now and where."""
    view = sample.view
    head = f"[{measure.elapsed:.1f} s] workload {view['id']}"
    if view["deployment_state"] is None:
        waiting = "waiting for signatures" if view["state"] == "pending" else "not placed yet"
        return f"{head}: {view['state']} ({waiting})"
    if view["deployed"]:
        countries = {r["node"]: r["country"] for r in view["replicas"]}
        where = ", ".join(f"node {n} ({countries[n]})" for n in view["nodes"]) or "no node"
        url = f"; {view['url']}" if view["url"] else ""
        return f"{head}: deployed, {len(view['replicas'])} replica(s) on {where}{url}"
    counts = ", ".join(f"{count} {state}" for state, count in sorted(view["by_state"].items()))
    what = view["deployment_state"] + (f" ({view['message']})" if view["message"] else "")
    if view["paused"]:
        what += ", paused: the escrow ran short"
    replicas = "; ".join(
        f"{r['workload']}/{r['index']} "
        + (f"on node {r['node']} ({r['country']})" if r["node"] else "on no node")
        + f" {r['state']}"
        + (f" ({r['message']})" if r["message"] else "")
        for r in view["replicas"]
    )
    left = measure.left
    eta = f", {format_duration(left)} left" if left else ""
    return f"{head}: {what}" + (f", {counts}{eta}: {replicas}" if replicas else "")


# workload


@click.group()
def workload() -> None:
    """Submit, approve and follow multisig workload specs (the `workload` standard contract)."""


@workload.command("submit")
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--require",
    "requires",
    multiple=True,
    metavar="KEY[:WEIGHT][:required]",
    help="A signer: keystore name or hex public key, weight (default 1), ':required' if it "
    "must sign. Repeat for each signer.",
)
@click.option(
    "--threshold",
    type=click.IntRange(min=1),
    help="Total weight of signatures needed [default: every signer's weight].",
)
@click.option("--from", "sender", required=True, metavar="KEY", help="Keystore key that pays.")
@click.option(
    "--deposit",
    type=click.IntRange(min=0),
    help="Credits sent with the spec: the escrow that pays the nodes once it is deployed "
    "(given back if it never is) [default: the spec's budget].",
)
@gas_options
@keystore_options
@node_option
@json_option
def workload_submit(
    spec_file: Path,
    requires: tuple[str, ...],
    threshold: int | None,
    sender: str,
    deposit: int | None,
    gas_limit: int,
    timeout: float,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Submit SPEC (JSON) with its signature requirement and a deposit; prints the workload id.
    Once its signers authorize it, the chain places it on nodes of its choice."""
    spec, data = load_spec_bytes(spec_file)
    store = open_keystore(keystore)
    requirement = parse_requirement(store, requires, threshold)
    req = encode_requirement(requirement)
    client = node_client(node_url)
    key = unlock(store, sender, passphrase_file)
    height = answer_field(client.status(), "height", int)
    expiry = height + int(spec["expiry_blocks"])
    value = int(spec["budget"]) if deposit is None else deposit
    call = Call(workload_address(), "submit", (data, req, expiry), value, gas_limit)
    sent = send(client, key, call, timeout, as_json)
    wid = sent["receipt"].get("return_value")
    if not isinstance(wid, int):
        raise CliError(f"the contract answered no workload id: {wid!r}", "bad_response")
    result = {
        "id": wid,
        "tx": sent["id"],
        "block": sent["block"],
        "spec_hash": spec_hash(spec).hex(),
        "requirement": requirement_to_json(requirement),
        "expires_after_height": expiry,
        "deposit": value,
        "signing_hash": signing_hash(workload_address(), wid, 1, data, req).hex(),
        "gas_used": sent["receipt"].get("gas_used"),
    }
    emit(
        as_json,
        result,
        [
            f"workload {wid} submitted (pending) in block {(sent['block'] or {}).get('height')}",
            f"spec hash {result['spec_hash']}",
            f"signers sign {result['signing_hash']}: `gridchain workload approve {wid} --key NAME`",
        ],
    )


@workload.command("approve")
@click.argument("wid", metavar="ID", type=click.IntRange(min=1))
@click.option("--key", "key_name", required=True, metavar="KEY", help="Keystore key that signs.")
@gas_options
@keystore_options
@node_option
@json_option
def workload_approve(
    wid: int,
    key_name: str,
    gas_limit: int,
    timeout: float,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Sign workload ID's pending version (or pending update) with KEY and send the signature."""
    client = node_client(node_url)
    contract = workload_address()
    version = query_value(client, str(contract), "version_of", wid)
    pending_spec = query_value(client, str(contract), "pending_spec_of", wid)
    if pending_spec:
        spec = pending_spec
        requirement = query_value(client, str(contract), "pending_requirement_of", wid)
        version += 1
    else:
        spec = query_value(client, str(contract), "spec_of", wid)
        requirement = query_value(client, str(contract), "requirement_of", wid)
    if not spec:
        raise CliError(f"there is no workload {wid}", "not_found")
    expected = signing_hash(contract, wid, version, spec, requirement)
    told = query_value(client, str(contract), "signing_hash", wid)
    if told != expected:
        raise CliError(
            "the node's signing hash does not match the spec and requirement it returned; "
            "refusing to sign",
            "hash_mismatch",
        )
    store = open_keystore(keystore)
    key = unlock(store, key_name, passphrase_file)
    signature = key.sign(expected)
    call = Call(contract, "approve", (wid, key.public_key, signature), 0, gas_limit)
    sent = send(client, key, call, timeout, as_json)
    state = sent["receipt"].get("return_value")
    result = {
        "id": wid,
        "version": version,
        "signer": key.public_key.hex(),
        "signing_hash": expected.hex(),
        "state": state,
        "tx": sent["id"],
        "block": sent["block"],
        "gas_used": sent["receipt"].get("gas_used"),
    }
    emit(as_json, result, f"signed version {version} of workload {wid}; it is now {state}")


@workload.command("status")
@click.argument("wid", metavar="ID", type=click.IntRange(min=1))
@watch_options(
    "Follow it until it is deployed: a line per change of state, a JSON object per line with "
    "--json; a node that does not answer is asked again."
)
@node_option
@json_option
def workload_status(
    wid: int,
    watch: bool,
    interval: float,
    timeout: float | None,
    node_url: str | None,
    as_json: bool,
) -> int:
    """State, version and signatures of workload ID.

    With --watch, follow it until it is deployed (every replica of its current version reported
    running by its node): a line per change of state (replicas by state and the nodes they run
    on), or with --json one JSON object per line ({"event": "sample", "state",
    "deployment_state", "by_state", "nodes", "replicas", "deployed", ...}). Exits 0 once it is
    deployed; 1 if it cannot be any more (a replica failed for good, the deployment expired or
    ended, the workload expired or was cancelled); 3 after --timeout; 130 on Ctrl-C. A node that
    does not answer is reported and asked again."""
    client = node_client(node_url)
    if watch:
        return follow(
            lambda: deployment_sample(watched_view(client, wid)),
            deployment_line,
            Watch(interval, timeout, "deployed"),
            Screen(as_json, stdout_is_terminal(), changes_only=True),
        )
    show_workload(workload_view(client, wid), as_json)
    return 0


def show_workload(view: dict[str, Any], as_json: bool) -> None:
    wid = view["id"]
    lines = [
        f"workload {wid}: {view['state']} (version {view['version']})",
        f"signed weight {view['signed_weight']} of threshold {view['threshold']}, "
        f"{view['missing_required']} required signer(s) missing",
    ]
    for s in view["signers"]:
        flags = "required" if s["required"] else "optional"
        mark = "signed" if s["signed"] else "not signed"
        lines.append(f"  {s['public_key']} weight {s['weight']} {flags}: {mark}")
    deployment = view["deployment"]
    if deployment is not None:
        paused = " (paused: the escrow ran short)" if deployment["grace_since"] else ""
        why = f": {deployment['message']}" if deployment["message"] else ""
        lines.append(
            f"deployment: {deployment['state']}{why}, escrow {deployment['escrow']}{paused}"
        )
        for r in view["replicas"]:
            note = f" ({r['message']})" if r["message"] else ""
            where = f"on node {r['node']} ({r['country']})" if r["node"] else "on no node"
            retry = f", placed again from height {r['retry_at']}" if r["retry_at"] else ""
            lines.append(f"  {r['workload']}/{r['index']} {where}: {r['state']}{note}{retry}")
            lines += [
                f"    left node {m['node']} at height {m['left']}: {m['reason']}"
                for m in r["history"]
            ]
        if view["url"]:
            lines.append(f"url: {view['url']}")
    emit(as_json, view, lines)


@workload.command("update")
@click.argument("wid", metavar="ID", type=click.IntRange(min=1))
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--require", "requires", multiple=True, metavar="KEY[:WEIGHT][:required]")
@click.option("--threshold", type=click.IntRange(min=1))
@click.option("--from", "sender", required=True, metavar="KEY", help="The owner's key.")
@gas_options
@keystore_options
@node_option
@json_option
def workload_update(
    wid: int,
    spec_file: Path,
    requires: tuple[str, ...],
    threshold: int | None,
    sender: str,
    gas_limit: int,
    timeout: float,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Propose version + 1 of workload ID; both the old and the new requirement must sign it."""
    _, data = load_spec_bytes(spec_file)
    store = open_keystore(keystore)
    req = encode_requirement(parse_requirement(store, requires, threshold))
    client = node_client(node_url)
    key = unlock(store, sender, passphrase_file)
    version = query_value(client, str(workload_address()), "version_of", wid)
    call = Call(workload_address(), "update", (wid, version + 1, data, req), 0, gas_limit)
    sent = send(client, key, call, timeout, as_json)
    new_hash = signing_hash(workload_address(), wid, version + 1, data, req).hex()
    emit(
        as_json,
        {"id": wid, "version": version + 1, "signing_hash": new_hash, "tx": sent["id"]},
        f"proposed version {version + 1} of workload {wid}; signers sign {new_hash}",
    )


@workload.command("cancel")
@click.argument("wid", metavar="ID", type=click.IntRange(min=1))
@click.option("--from", "sender", required=True, metavar="KEY", help="The owner's key.")
@gas_options
@keystore_options
@node_option
@json_option
def workload_cancel(
    wid: int,
    sender: str,
    gas_limit: int,
    timeout: float,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Cancel workload ID (owner only): its nodes tear it down, the chain bills what ran and
    gives back the rest of the escrow (all of the deposit if it never ran)."""
    client = node_client(node_url)
    key = unlock(open_keystore(keystore), sender, passphrase_file)
    sent = send(
        client, key, Call(workload_address(), "cancel", (wid,), 0, gas_limit), timeout, as_json
    )
    emit(as_json, {"id": wid, "state": "cancelled", "tx": sent["id"]}, f"workload {wid} cancelled")


@workload.command("topup")
@click.argument("wid", metavar="ID", type=click.IntRange(min=1))
@click.option("--amount", required=True, type=click.IntRange(min=1), help="Credits to add.")
@click.option("--from", "sender", required=True, metavar="KEY", help="Keystore key that pays.")
@gas_options
@keystore_options
@node_option
@json_option
def workload_topup(
    wid: int,
    amount: int,
    sender: str,
    gas_limit: int,
    timeout: float,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> None:
    """Add credits to the escrow of authorized workload ID (anyone may pay); a paused workload
    resumes once the escrow covers a billing period."""
    client = node_client(node_url)
    key = unlock(open_keystore(keystore), sender, passphrase_file)
    call = Call(workload_address(), "topup", (wid,), amount, gas_limit)
    sent = send(client, key, call, timeout, as_json)
    emit(as_json, {"id": wid, "amount": amount, "tx": sent["id"]}, f"workload {wid}: +{amount}")


# contract
