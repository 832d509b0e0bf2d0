"""`gridchain light`: a light client that trusts nothing but a genesis file.

It follows the chain by finality certificates (one aggregate signature check per header it
needs, skipping ahead where the validator set it trusts still vouches for the header), keeps what
it verified in its home, and asks witnesses for the same header: a witness with another certified
header stops it, with evidence naming the validators that signed both.
"""

import json
from pathlib import Path
from typing import Any

import click

from chain.blocks.commit import commit_to_json
from chain.blocks.header import header_to_json
from chain.light.blocks import LightBlock, encode_light_block
from genesis.schema import load_genesis
from node.api.client import NodeClient
from node.cli.common import CliError
from node.cli.output import emit, json_option, progress
from node.config import write_file_atomically
from node.light.client import ConflictingHeaders, initialize, sync
from node.light.store import LightStore

CONFLICT_EXIT = 3


def home_option(f: Any) -> Any:
    return click.option(
        "--home",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="The light client's home: what it verified is kept there.",
    )(f)


def open_light_store(home: Path, must_exist: bool = True) -> LightStore:
    path = home / "light.db"
    if must_exist and not path.exists():
        raise CliError(f"{home} is not a light client home: run `gridchain light init` first")
    return LightStore(path)


def block_view(block: LightBlock) -> dict[str, Any]:
    return {
        "height": block.height,
        "hash": block.header.hash.hex(),
        "header": header_to_json(block.header),
        "commit": None if block.commit is None else commit_to_json(block.commit, block.validators),
        "validators_hash": block.header.validators_hash.hex(),
        "light_block": encode_light_block(block).hex(),
    }


@click.group()
def light() -> None:
    """A light client: verify headers from a genesis file by finality certificates alone."""


@light.command("init")
@click.option(
    "--genesis",
    "genesis_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The chain's genesis file: the one thing the client trusts.",
)
@home_option
@json_option
def light_init(genesis_file: Path, home: Path, as_json: bool) -> None:
    """Make HOME a light client of the chain GENESIS_FILE describes (safe to repeat)."""
    genesis = load_genesis(genesis_file)
    home.mkdir(parents=True, exist_ok=True)
    store = open_light_store(home, must_exist=False)
    try:
        root = initialize(store, genesis)
        latest = store.latest()
    finally:
        store.close()
    view = {
        "home": str(home),
        "chain_id": genesis.chain_id,
        "genesis_hash": root.header.hash.hex(),
        "trusted_height": latest.height,
    }
    emit(
        as_json,
        view,
        [f"light client of {genesis.chain_id} in {home}, trusted to height {latest.height}"],
    )


@light.command("sync")
@click.option("--node", "node_url", required=True, metavar="URL", help="The primary node.")
@click.option(
    "--witness",
    "witness_urls",
    multiple=True,
    metavar="URL",
    help="A node asked for the same header (repeat for more).",
)
@click.option(
    "--height",
    type=click.IntRange(min=1),
    help="Verify this height [default: the primary's latest].",
)
@home_option
@json_option
def light_sync(
    node_url: str, witness_urls: tuple[str, ...], height: int | None, home: Path, as_json: bool
) -> None:
    """Verify the primary's latest header (or --height) from what HOME trusts, then check it
    with every witness. Exits 3 when a witness holds another certified header (the evidence is
    written to HOME/evidence-HEIGHT.json)."""
    store = open_light_store(home)
    say = progress(as_json)
    try:
        chain_id = store.highest_at_or_below(0).header.chain_id
        result = sync(
            store,
            chain_id,
            NodeClient(node_url),
            [NodeClient(url) for url in witness_urls],
            height,
            say,
        )
    except ConflictingHeaders as exc:
        path = home / f"evidence-{exc.evidence['height']}.json"
        write_file_atomically(path, json.dumps(exc.evidence, indent=2) + "\n")
        raise CliError(f"{exc.message}; evidence in {path}", exc.code, CONFLICT_EXIT) from None
    finally:
        store.close()
    trusted = result.trusted
    view = {
        "trusted_height": trusted.height,
        "hash": trusted.header.hash.hex(),
        "verified": list(result.verified),
        "witnesses": [w.to_json() for w in result.witnesses],
    }
    lines = [
        f"trusted height {trusted.height} ({trusted.header.hash.hex()}), "
        f"{len(result.verified)} certificate(s) checked"
    ]
    lines += [f"witness {w.url}: {w.status} {w.detail}".rstrip() for w in result.witnesses]
    emit(as_json, view, lines)


@light.command("header")
@click.argument("height", type=click.IntRange(min=0))
@click.option(
    "--node", "node_url", metavar="URL", help="Verify HEIGHT from this node if HOME has not yet."
)
@home_option
@json_option
def light_header(height: int, node_url: str | None, home: Path, as_json: bool) -> None:
    """Show the verified header of HEIGHT (verifying it first with --node)."""
    store = open_light_store(home)
    try:
        block = store.get(height)
        if block is None and node_url is not None:
            chain_id = store.highest_at_or_below(0).header.chain_id
            block = sync(
                store, chain_id, NodeClient(node_url), (), height, progress(as_json)
            ).trusted
    finally:
        store.close()
    if block is None:
        raise CliError(
            f"height {height} is not verified in {home}: "
            f"`gridchain light header {height} --node URL` verifies it",
            code="not_verified",
        )
    view = block_view(block)
    emit(
        as_json,
        view,
        [f"height {height}: {view['hash']} (verified)", json.dumps(view["header"], indent=2)],
    )
