"""`gridchain audit ...`: read the audit log, save proofs, and verify them offline.

`audit monitor` watches nodes' tree heads over time (node/audit/).

A proof bundle (`audit proof --out`, `audit consistency --out`) carries everything needed: the
entry, the proof hashes, the header(s) committing to the tree size, and the finality
certificates that reach those headers from genesis (node/light/finality.py). `audit verify`
recomputes the entry's leaf, the header's hash and the root from the proof, trusting nothing in
the bundle; with `--genesis` it also verifies the certificates from the genesis file, so the
header is known final with nothing else trusted; with `--header` it requires the bundle's
header to be one the auditor already holds.
"""

import contextlib
import json
from pathlib import Path
from typing import Any

import click

from chain.errors import InvalidProof, RuleViolation
from chain.genesis_state import GenesisState
from chain.ledger.audit import entry_from_json, entry_leaf
from chain.merkle import check_consistency, check_inclusion
from genesis.schema import load_genesis
from node.api.client import NodeClient, checked_header, proof_hashes
from node.audit.heads import TreeHead
from node.audit.monitor import EXIT_CODES, Monitor, RoundReport, run_monitor
from node.audit.state import MONITOR_HOME_ENV, default_monitor_home, locked_home
from node.cli.common import CliError, node_client, node_option
from node.cli.light import open_light_store
from node.cli.output import emit, json_option
from node.light.client import header_verifier
from node.light.finality import check_finality, finality_for


@click.group()
def audit() -> None:
    """The audit log: entries, inclusion and consistency proofs, offline verification, and a
    monitor of the tree heads nodes show."""


def _entry_line(view: dict[str, Any]) -> str:
    return (
        f"#{view['index']} block {view['height']} tx {view['tx_index']} {view['topic']} "
        f"{view['data'][:48]}{'...' if len(view['data']) > 48 else ''}"
    )


@audit.command("entries")
@click.option("--contract", metavar="ADDR", help="Only entries this contract emitted.")
@click.option("--start", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@node_option
@json_option
def audit_entries(
    contract: str | None, start: int, limit: int, node_url: str | None, as_json: bool
) -> None:
    """List entries from position START (at most LIMIT)."""
    answer = node_client(node_url).audit_entries(start, limit, contract)
    entries = answer.get("entries", [])
    emit(as_json, answer, [_entry_line(e) for e in entries] or ["no entries"])


def _write(out: Path | None, bundle: dict[str, Any]) -> None:
    if out is not None:
        out.write_text(json.dumps(bundle, indent=2) + "\n")


@audit.command("proof")
@click.argument("index", type=click.IntRange(min=0))
@click.option("--size", type=click.IntRange(min=1), help="Tree size [default: the latest].")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Save the bundle.")
@node_option
@json_option
def audit_proof(
    index: int, size: int | None, out: Path | None, node_url: str | None, as_json: bool
) -> None:
    """Inclusion proof of entry INDEX in the log of SIZE entries, with the committing header and
    the finality certificates that reach it from genesis (`audit verify --genesis` checks them)."""
    client = node_client(node_url)
    bundle = client.audit_proof(index, size)
    bundle["finality"] = finality_for(client, [_bundle_height(bundle, "header")])
    _write(out, bundle)
    emit(
        as_json,
        bundle,
        f"entry {index} in a log of {bundle.get('size')} (header {bundle['header']['height']}): "
        f"{len(bundle.get('proof', []))} hashes" + (f", saved to {out}" if out else ""),
    )


@audit.command("consistency")
@click.argument("first", type=click.IntRange(min=1))
@click.argument("second", type=click.IntRange(min=1), required=False)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Save the bundle.")
@node_option
@json_option
def audit_consistency(
    first: int, second: int | None, out: Path | None, node_url: str | None, as_json: bool
) -> None:
    """Proof that the log of FIRST entries is a prefix of the log of SECOND [default: latest],
    with the finality certificates that reach both headers from genesis."""
    client = node_client(node_url)
    bundle = client.audit_consistency(first, second)
    heights = [_bundle_height(bundle, "first_header"), _bundle_height(bundle, "second_header")]
    bundle["finality"] = finality_for(client, heights)
    _write(out, bundle)
    emit(
        as_json,
        bundle,
        f"log {first} -> {bundle.get('second')}: {len(bundle.get('proof', []))} hashes"
        + (f", saved to {out}" if out else ""),
    )


def _bundle_height(bundle: dict[str, Any], field: str) -> int:
    """The height of a header the node's bundle names (checked later, offline, like the rest)."""
    view = bundle.get(field)
    height = view.get("height") if isinstance(view, dict) else None
    if not isinstance(height, int):
        raise CliError(f"the node's bundle has no {field} height")
    return height


def check_bundle(
    bundle: Any, trusted: Any = None, genesis: GenesisState | None = None
) -> dict[str, Any]:
    """Check a bundle completely; raises InvalidProof naming the first thing that fails. With
    `genesis`, its headers must be final: reached from genesis by the bundle's certificates."""
    if not isinstance(bundle, dict) or bundle.get("kind") not in ("inclusion", "consistency"):
        raise InvalidProof("not a proof bundle (kind must be inclusion or consistency)")
    if bundle["kind"] == "inclusion":
        header = checked_header(bundle.get("header"), "header")
        trusted_headers = [header]
        entry = entry_from_json(bundle.get("entry"))
        index, size = bundle.get("index"), bundle.get("size")
        if not isinstance(index, int) or not isinstance(size, int):
            raise InvalidProof("bundle index and size must be integers")
        if header.audit_size != size:
            raise InvalidProof(f"header commits to a log of {header.audit_size}, not {size}")
        leaf = entry_leaf(entry)
        check_inclusion(leaf, index, size, proof_hashes(bundle), header.audit_root)
        result: dict[str, Any] = {
            "kind": "inclusion",
            "index": index,
            "size": size,
            "topic": entry.topic,
            "height": header.height,
            "header_hash": header.hash.hex(),
            "leaf_hash": leaf.hex(),
        }
    else:
        first = checked_header(bundle.get("first_header"), "first header")
        second = checked_header(bundle.get("second_header"), "second header")
        trusted_headers = [first, second]
        if (first.audit_size, second.audit_size) != (bundle.get("first"), bundle.get("second")):
            raise InvalidProof("the headers do not commit to the bundle's sizes")
        check_consistency(
            first.audit_size,
            second.audit_size,
            first.audit_root,
            second.audit_root,
            proof_hashes(bundle),
        )
        result = {
            "kind": "consistency",
            "first": first.audit_size,
            "second": second.audit_size,
            "first_header_hash": first.hash.hex(),
            "second_header_hash": second.hash.hex(),
        }
    if genesis is not None:
        verified = check_finality(bundle.get("finality"), genesis, trusted_headers)
        result["finality"] = {"from_genesis": genesis.chain_id, "heights_verified": verified}
    if trusted is not None:
        anchor = checked_header(trusted, "trusted header")
        if all(h.hash != anchor.hash for h in trusted_headers):
            raise InvalidProof("the bundle's header is not the trusted header")
        result["trusted_header"] = anchor.hash.hex()
    return result


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CliError(f"{what} {path} is not JSON: {exc}") from None


@audit.command("verify")
@click.argument("bundle_file", metavar="BUNDLE", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--header",
    "header_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A header (JSON, as /v1/blocks/{h} gives it) the bundle's header must be.",
)
@click.option(
    "--genesis",
    "genesis_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The chain's genesis file: the bundle's headers must be reached from it by their "
    "finality certificates (without it, only the proof itself is checked).",
)
@json_option
def audit_verify(
    bundle_file: Path, header_file: Path | None, genesis_file: Path | None, as_json: bool
) -> None:
    """Verify a proof bundle offline; exits non-zero, saying why, if anything was tampered.

    With --genesis, nothing else is trusted: the bundle's header is final, reached from the
    genesis file through every validator-set change by the certificates the bundle carries."""
    bundle = _read_json(bundle_file, "bundle")
    genesis = None if genesis_file is None else load_genesis(genesis_file)
    trusted = None
    if header_file is not None:
        trusted = _read_json(header_file, "header")
        if isinstance(trusted, dict) and "header" in trusted:
            trusted = trusted["header"]  # a whole block view
    try:
        result = check_bundle(bundle, trusted, genesis)
    except RuleViolation as exc:
        raise CliError(f"{bundle_file}: {exc.message}", "invalid_proof") from None
    result["ok"] = True
    if result["kind"] == "inclusion":
        text = (
            f"ok: entry {result['index']} ({result['topic']}) is in the log of {result['size']} "
            f"committed by header {result['height']} ({result['header_hash']})"
        )
    else:
        text = f"ok: the log of {result['first']} is a prefix of the log of {result['second']}"
    if genesis is None:
        text += "\nthe header's finality is not checked: pass --genesis FILE to check it"
    else:
        text += f"\nfinal: reached from the genesis of {genesis.chain_id} by its certificates"
    emit(as_json, result, text)


def _head_line(node: str, head: TreeHead | None) -> str:
    if head is None:
        return f"  {node}: no head"
    return (
        f"  {node}: height {head.height}, log {head.audit_size}, "
        f"root {head.audit_root.hex()[:16]}..."
    )


def _round_lines(report: RoundReport) -> list[str]:
    largest = report.largest
    summary = "no head kept yet" if largest is None else f"largest {largest.describe()}"
    lines = [f"round {report.round}: {report.verdict}; {summary}"]
    lines += [_head_line(node, head) for node, head in report.heads.items()]
    lines += [f"  {f.kind}: {f.message}" for f in report.findings]
    return lines


@audit.command("monitor")
@click.option(
    "--node",
    "node_urls",
    metavar="URL",
    multiple=True,
    required=True,
    help="A node's API URL; repeat for each node to watch.",
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Where the heads seen are kept [default: ${MONITOR_HOME_ENV}, else "
    "~/.gridchain/monitor].",
)
@click.option(
    "--interval",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="Time between rounds.",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=1),
    metavar="N",
    help="Stop after N rounds [default: never].",
)
@click.option("--once", is_flag=True, help="One round (--rounds 1).")
@click.option(
    "--light-home",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A light client home (`gridchain light init`): every head's header must be the final "
    "one it verifies from genesis, or it is an invalid_head.",
)
@json_option
def audit_monitor(
    node_urls: tuple[str, ...],
    home: Path | None,
    interval: float,
    rounds: int | None,
    once: bool,
    light_home: Path | None,
    as_json: bool,
) -> int:
    """Watch the audit log's tree heads on NODEs: each round reads every node's head block and
    checks its log against every head kept (its own node's last one and the largest seen from
    any node) with consistency proofs, so a node that rewrites the log, or shows one log here
    and another elsewhere, is found. Heads that pass are kept under --home (saved after every
    round) for the next round and the next run. Without --rounds or --once it runs until
    interrupted.

    Findings: split_view (two nodes' logs disagree), inconsistent (a node contradicts its own
    earlier head, or went back), invalid_head (a header that does not hash to its hash), and
    the warning unreachable (a node did not answer, or a head could not be checked this round).

    Exit status: 0 all consistent; 3 a split view, inconsistency or invalid head was found (in
    any round); 4 only warnings; 1 an error (e.g. an unreadable state file); 2 a usage error.
    With --json, one JSON object per round, one per line.
    """
    if once and rounds is not None:
        raise click.UsageError("give --rounds N or --once, not both")
    directory = home or default_monitor_home()
    with contextlib.ExitStack() as stack:
        state_path = stack.enter_context(locked_home(directory))
        if light_home is None:
            monitor = Monitor(node_urls, state_path)
        else:
            store = open_light_store(light_home)
            stack.callback(store.close)
            sources = [NodeClient(url) for url in node_urls]
            monitor = Monitor(node_urls, state_path, header_verifier(store, sources))

        def show(report: RoundReport) -> None:
            if as_json:
                click.echo(json.dumps({"event": "round", **report.to_json()}))
            else:
                click.echo("\n".join(_round_lines(report)))

        worst = run_monitor(monitor, 1 if once else rounds, interval, show)
    return EXIT_CODES[worst]
