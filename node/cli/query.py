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


@click.command("status")
@node_option
@json_option
def status(node_url: str | None, as_json: bool) -> None:
    """Show the node's chain, head block and mempool."""
    client = node_client(node_url)
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
