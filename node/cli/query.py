"""`gridchain query` and `gridchain status`: accounts (with proofs), blocks, transactions."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from chain.address import parse_address
from chain.errors import InvalidProof
from chain.light.blocks import LightBlock
from node.api.client import NodeClient, answer_field, checked_account
from node.cli.common import CliError, node_client, node_option
from node.cli.follow import (
    Measure,
    Sample,
    Screen,
    Watch,
    follow,
    format_count,
    format_duration,
    format_rate,
    stdout_is_terminal,
    watch_options,
)
from node.cli.light import open_light_store
from node.cli.output import emit, json_option
from node.light.client import certified_block


@click.group()
def query() -> None:
    """Read accounts, blocks and transactions from a node."""


def _format_time(ms: Any) -> str:
    if not isinstance(ms, int):
        return str(ms)
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _format_policy(policy: Any) -> str:
    if not policy:
        return "none"
    signers = ", ".join(
        f"{s['public_key'][:16]}… weight {s['weight']}" + (" (required)" if s["required"] else "")
        for s in policy["signers"]
    )
    return f"threshold {policy['threshold']} of [{signers}]"


@query.command("account")
@click.argument("address")
@click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Check the Merkle proof against the block's state root, and the block's finality "
    "certificate against its validator set.",
)
@click.option(
    "--light-home",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A light client home (`gridchain light init`): the block must also verify from what it "
    "trusts, so nothing the node says is taken on trust.",
)
@node_option
@json_option
def query_account(
    address: str, verify: bool, light_home: Path | None, node_url: str | None, as_json: bool
) -> None:
    """Show an account's balance, nonce and policy, proven against a finalized block."""
    parsed = parse_address(address)
    client = node_client(node_url)
    view = client.account(str(parsed))
    lines = [
        f"address: {view.get('address')}",
        f"exists:  {'yes' if view.get('exists') else 'no'}",
        f"balance: {view.get('balance')}",
        f"nonce:   {view.get('nonce')}",
        f"policy:  {_format_policy(view.get('policy'))}",
    ]
    result = dict(view)
    if verify:
        height = answer_field(view, "height", int)
        proven = checked_account(str(parsed), view, client.block(height))
        final = _certified(client, height, light_home)
        if final.header.hash != proven.block_hash:
            raise InvalidProof(f"the certified header of block {height} is not the proof's")
        result["verified"] = {
            "height": proven.height,
            "block_hash": proven.block_hash.hex(),
            "state_root": proven.state_root.hex(),
            "finality": "light client" if light_home else "certificate",
        }
        lines.append(
            f"proof verified against block {proven.height} state root {proven.state_root.hex()}"
        )
        lines.append(
            "block final: verified from the light client's trust"
            if light_home
            else "block certified by more than 2/3 of the validator set it names "
            "(--light-home verifies that set too)"
        )
    else:
        result["verified"] = None
        lines.append(f"as of block {view.get('height')} (proof not checked)")
    emit(as_json, result, lines)


def _certified(client: NodeClient, height: int, light_home: Path | None) -> LightBlock:
    if height == 0 and light_home is None:
        raise CliError(
            "the node answers from the genesis block, which no certificate signs: wait for the "
            "first block, pass --light-home (it trusts the genesis file) or use --no-verify",
            "not_final_yet",
        )
    if light_home is None:
        return certified_block(client, height)
    store = open_light_store(light_home)
    try:
        return certified_block(client, height, store)
    finally:
        store.close()


def _tx_line(view: dict[str, Any]) -> str:
    payload = view.get("payload") or {}
    what = view.get("type")
    if what == "transfer":
        what = f"transfer {payload.get('amount')} to {payload.get('to')}"
    return f"{view.get('id')}  {view.get('sender')} nonce {view.get('nonce')}: {what}"


def _block_ref(ref: str) -> str:
    ref = ref.strip().lower()
    if (
        ref == "latest"
        or ref.isdigit()
        or (len(ref) == 64 and all(c in "0123456789abcdef" for c in ref))
    ):
        return ref
    raise CliError(f"{ref!r} is neither a height, a 64-hex block hash nor 'latest'")


@query.command("block")
@click.argument("ref", metavar="HEIGHT|HASH|latest")
@node_option
@json_option
def query_block(ref: str, node_url: str | None, as_json: bool) -> None:
    """Show a block by height, hash or `latest`."""
    view = node_client(node_url).block(_block_ref(ref))
    header = view.get("header") or {}
    txs = view.get("txs") or []
    lines = [
        f"height:     {header.get('height')}",
        f"hash:       {header.get('hash')}",
        f"time:       {_format_time(header.get('time_ms'))}",
        f"prev hash:  {header.get('prev_hash')}",
        f"proposer:   {header.get('proposer')}",
        f"state root: {header.get('state_root')}",
        f"txs:        {len(txs)}",
        *(f"  {_tx_line(t)}" for t in txs),
    ]
    emit(as_json, view, lines)


@query.command("validators")
@node_option
@json_option
def query_validators(node_url: str | None, as_json: bool) -> None:
    """Show the active validator set, the jailed, and the council's pending changes."""
    view = node_client(node_url).get("/v1/validators")
    lines = [f"active at height {view.get('height')}, {view.get('total_blockstake')} blockstake:"]
    lines += [
        f"  {v.get('public_key')} {v.get('blockstake'):>12} {v.get('name', '')}"
        for v in view.get("validators", [])
    ]
    for j in view.get("jailed", []):
        until = "for ever" if j.get("tombstoned") else f"until {j.get('jailed_until')}"
        lines.append(f"jailed {until}: {j.get('public_key')} {j.get('name', '')}")
    for p in view.get("pending", []):
        lines.append(
            f"pending {p.get('kind')} of {(p.get('change') or {}).get('public_key')}, "
            f"signing from height {p.get('effective_height')}"
        )
    emit(as_json, view, lines)


@query.command("tx")
@click.argument("tx_id", metavar="ID")
@node_option
@json_option
def query_tx(tx_id: str, node_url: str | None, as_json: bool) -> None:
    """Show a transaction and where it was committed."""
    tx_id = tx_id.strip().lower()
    if len(tx_id) != 64 or any(c not in "0123456789abcdef" for c in tx_id):
        raise CliError(f"transaction id {tx_id!r} must be 64 hex characters")
    view = node_client(node_url).tx(tx_id)
    body = view.get("tx") or {}
    block = view.get("block")
    lines = [
        f"id:     {view.get('id')}",
        f"status: {view.get('status')}",
        f"tx:     {_tx_line(body)}",
        f"fee:    {body.get('fee')}",
    ]
    if block:
        lines.append(f"block:  {block.get('height')} ({block.get('hash')})")
    emit(as_json, view, lines)


def state_sync_lines(url: str, progress: dict[str, Any]) -> list[str]:
    lines = [
        f"node:         {url}",
        f"state sync:   {progress.get('phase')}",
        f"snapshot:     height {progress.get('height')}",
        f"chunks:       {progress.get('chunks_done')} of {progress.get('chunks')}, "
        f"{progress.get('records')} records, {progress.get('seconds')} s",
    ]
    lines += [f"left out:     {why}" for why in progress.get("refused") or []]
    return lines


# Following a node's sync

BEHIND = 2  # heights behind the best peer's that block sync goes after (node/consensus/blocksync)


def sync_phase(height: int, consensus: dict[str, Any] | None) -> tuple[str, int | None]:
    """Where a node running consensus stands ("block sync", "synced" or "waiting for peers"),
    and the height it syncs toward: the best connected peer's last block (a peer's status names
    the height it decides, one above its last block), or its own height when no peer is ahead.

    Caught up is block sync's own rule: at most one height behind the best peer (a peer that
    just decided first; our own decision is on its way). A node without peers is caught up only
    when it decides alone (it accepts transactions); until a peer answers it cannot know what it
    lacks. A node without consensus (an API over a store) has nobody to follow."""
    if consensus is None:
        return "synced", height
    best = consensus.get("best_peer_height")
    if not isinstance(best, int):
        return ("synced", height) if consensus.get("accepting_txs") else ("waiting for peers", None)
    target = max(height, best - 1)
    deciding = consensus.get("height")
    deciding = deciding if isinstance(deciding, int) else height + 1
    if consensus.get("syncing") or best - deciding >= BEHIND:
        return "block sync", target
    return "synced", target


def sync_sample(url: str, view: dict[str, Any], until_synced: bool = False) -> Sample:
    """One read of /v1/status as a watch sample: the height toward the target height, or during
    state sync (height 0) the snapshot's chunks toward their count."""
    progress = view.get("state_sync")
    if isinstance(progress, dict):
        chunks = progress.get("chunks")
        return Sample(
            {
                "node": url,
                "phase": "state sync",
                "height": 0,
                "target_height": progress.get("height") or None,
                "synced": False,
                "state_sync": progress,
            },
            done=int(progress.get("chunks_done") or 0),
            total=chunks if isinstance(chunks, int) and chunks > 0 else None,
            unit="chunks",
        )
    height = answer_field(view, "height", int)
    consensus = view.get("consensus")
    consensus = consensus if isinstance(consensus, dict) else None
    phase, target = sync_phase(height, consensus)
    synced = phase == "synced"
    peers = (consensus or {}).get("peers")
    return Sample(
        {
            "node": url,
            "phase": phase,
            "height": height,
            "target_height": target,
            "synced": synced,
            "peers": len(peers) if isinstance(peers, list) else None,
        },
        done=height,
        total=target,
        unit="blocks",
        reached=until_synced and synced,
    )


def sync_line(sample: Sample, measure: Measure) -> str:
    """`height 1,234 of 3,000 (block sync), 412 blocks/s, 4 s left`, for people."""
    view = sample.view
    speed = format_rate(measure.rate, sample.unit)
    if view["phase"] == "state sync":
        progress = view["state_sync"]
        return (
            f"state sync ({progress.get('phase')}): chunk {format_count(sample.done)} of "
            f"{format_count(sample.total)} of the snapshot at height "
            f"{format_count(view['target_height'])}, {speed}, "
            f"{format_duration(measure.left)} left"
        )
    height = format_count(view["height"])
    if view["phase"] == "waiting for peers":
        return f"height {height}: waiting for peers (no peer has answered yet)"
    if view["synced"]:
        return f"height {height}: synced with {view['peers'] or 0} peer(s), {speed}"
    return (
        f"height {height} of {format_count(view['target_height'])} (block sync), {speed}, "
        f"{format_duration(measure.left)} left"
    )


@click.command("status")
@watch_options(
    "Follow the node's sync: a line per read (rewritten in place on a terminal), a JSON object "
    "per line with --json; a node that does not answer is asked again."
)
@click.option(
    "--until-synced",
    is_flag=True,
    help="Watch until the node has caught up with its peers, then exit 0 (implies --watch).",
)
@node_option
@json_option
def status(
    watch: bool,
    interval: float,
    timeout: float | None,
    until_synced: bool,
    node_url: str | None,
    as_json: bool,
) -> int:
    """Show the node's chain, head block and mempool.

    With --watch, follow its sync instead: its height, the height it syncs toward (the best
    peer's; during state sync, the snapshot's chunks), blocks/s and the time left, every
    --interval seconds. On a terminal one line is rewritten; otherwise a line per read, or with
    --json one JSON object per line ({"event": "sample", "height", "target_height", "phase",
    "synced", "rate", "eta_s", ...}). A node that does not answer is reported and asked again.
    Ctrl-C ends it (exit 0); --until-synced ends it once the node is caught up (exit 0; 130 if
    interrupted before, 3 after --timeout)."""
    client = node_client(node_url)
    if watch or until_synced:
        return follow(
            lambda: sync_sample(client.url, client.status(), until_synced),
            sync_line,
            Watch(interval, timeout, "synced" if until_synced else None),
            Screen(as_json, stdout_is_terminal()),
        )
    show_status(client, as_json)
    return 0


def show_status(client: NodeClient, as_json: bool) -> None:
    view = client.status()
    syncing = view.get("state_sync")
    if isinstance(syncing, dict):  # starting from a snapshot: no chain to show yet
        emit(as_json, {"node": client.url, **view}, state_sync_lines(client.url, syncing))
        return
    mempool = view.get("mempool") or {}
    lines = [
        f"node:         {client.url}",
        f"chain id:     {view.get('chain_id')}",
        f"genesis hash: {view.get('genesis_hash')}",
        f"height:       {view.get('height')}",
        f"block hash:   {view.get('block_hash')}",
        f"block time:   {_format_time(view.get('time_ms'))}",
        f"state root:   {view.get('state_root')}",
        f"mempool:      {mempool.get('txs')} txs, {mempool.get('bytes')} bytes",
        f"validator:    {view.get('validator')}",
        f"version:      {view.get('version')}",
    ]
    if view.get("base_height"):
        lines.append(f"began from:   a snapshot of height {view.get('base_height')}")
    release = view.get("release") or {}
    if release.get("running") not in (None, view.get("version")):
        lines.append(f"the chain runs release {release.get('running')}")
    plan = release.get("plan")
    if plan:
        lines.append(
            f"upgrade:      {plan.get('name')} to release {plan.get('version')} at height "
            f"{plan.get('height')}"
        )
    emit(as_json, {"node": client.url, **view}, lines)
