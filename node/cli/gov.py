"""`gridchain gov`: the council proposes, approves and follows its proposals on chain.

Each member runs these on their own machine with their own keystore key: a proposal gathers
its approvals on chain (no file to pass around) and executes in the block where they satisfy
the council's policy. `gov status` and `gov list` read what the chain holds.
"""

import hashlib
import zipfile
from pathlib import Path
from typing import Any

import click

from chain.address import key_address
from chain.governance.txs import (
    MAX_TITLE,
    MAX_VOTING_BLOCKS,
    GovApprove,
    GovernancePayload,
    GovPropose,
    ParamsChange,
    ProposalContent,
    RewardsChange,
    TextProposal,
    UpgradePlan,
    ValidatorsChange,
    content_kind,
    content_to_json,
)
from chain.ledger.transactions import TxBody, sign_tx
from chain.params import PARAM_BOUNDS
from chain.staking.txs import ValidatorChange, ValidatorRemove, ValidatorSetStake
from node.api.client import ApiError, answer_field
from node.cli.common import (
    CliError,
    F,
    keystore_options,
    node_client,
    node_option,
    wait_options,
)
from node.cli.output import emit, json_option
from node.cli.specs import (
    VALIDATOR_SHAPE,
    spec_integer,
    spec_parts,
    validator_add_from_spec,
    validator_key_from_hex,
)
from node.cli.tx import committed_line, load_keys, submit
from node.supervisor import ReleaseRefused, wheel_version

DEFAULT_VOTING_BLOCKS = 1_000


@click.group()
def gov() -> None:
    """The council's proposals: propose, approve, follow."""


def member_options(f: F) -> F:
    """What every member's transaction takes: the member's key, fee, waiting, node."""
    for option in reversed(
        (
            click.option(
                "--key",
                "key_name",
                required=True,
                metavar="NAME",
                help="The council member's keystore key: it signs, and its account pays.",
            ),
            click.option(
                "--fee",
                type=click.IntRange(min=0),
                help="Fee [default: the chain's minimum fee now].",
            ),
            wait_options,
            keystore_options,
            node_option,
            json_option,
        )
    ):
        f = option(f)
    return f


def _send(
    payload: GovernancePayload,
    key_name: str,
    fee: int | None,
    wait: bool,
    timeout: float,
    keystore: Path | None,
    passphrase_file: Path | None,
    node_url: str | None,
    as_json: bool,
) -> dict[str, Any]:
    """Sign `payload` from the member's own key account and send it."""
    [key] = load_keys((key_name,), keystore, passphrase_file)
    client = node_client(node_url)
    sender = key_address(key.public_key)
    status = client.status()
    chain_id = answer_field(status, "chain_id", str)
    if fee is None:
        fee = answer_field(status.get("fees") or {}, "min_fee", int)
    if isinstance(payload, GovApprove):
        _check_open(client.get(f"/v1/proposals/{payload.proposal.hex()}"), key.public_key)
    nonce = answer_field(client.account(str(sender)), "next_nonce", int)
    signed = sign_tx(TxBody(chain_id, sender, nonce, fee, payload), [key])
    result = submit(client, signed, wait, timeout, as_json)
    if wait:
        # The proposal as the block left it: executed already, or waiting for whom.
        proposal_id = signed.id if isinstance(payload, GovPropose) else payload.proposal
        result["proposal"] = client.get(f"/v1/proposals/{proposal_id.hex()}")
    return result


def _check_open(view: dict[str, Any], member: bytes) -> None:
    """Refuse here, before signing, what the chain would leave out of its block."""
    if view.get("status") != "open":
        raise CliError(
            f"proposal {view.get('id')} is {view.get('status')} since block "
            f"{view.get('closed_at')}",
            "proposal_closed",
        )
    if member.hex() in view.get("approvals", []):
        raise CliError(f"{key_address(member)} already approved it", "already_approved")


def _status_line(view: dict[str, Any]) -> str:
    status = view.get("status")
    if status == "open":
        return (
            f"open until block {view.get('expires_after')}: approved weight "
            f"{view.get('approved_weight')} of {view.get('threshold')}"
        )
    if status == "failed":
        return f"failed in block {view.get('closed_at')}: {view.get('reason')}"
    return f"{status} in block {view.get('closed_at')}"


# Proposing


@gov.group("propose")
def propose() -> None:
    """Submit a proposal (approved by its proposer) of one KIND."""


def propose_options(f: F) -> F:
    f = member_options(f)
    f = click.option(
        "--voting-blocks",
        default=DEFAULT_VOTING_BLOCKS,
        show_default=True,
        type=click.IntRange(1, MAX_VOTING_BLOCKS),
        help="Blocks the proposal stays open for approvals; then it expires, doing nothing.",
    )(f)
    f = click.option("--title", help="A short title [default: what it does].")(f)
    return f


def _propose(
    content: ProposalContent, title: str | None, voting_blocks: int, **common: Any
) -> None:
    title = title or _default_title(content)[:MAX_TITLE]
    result = _send(GovPropose(title, content, voting_blocks), **common)
    result.update(kind=content_kind(content), title=title, content=content_to_json(content))
    lines = [f"proposed {result['id']} ({content_kind(content)}: {title})"]
    lines += committed_line(result)
    if "proposal" in result:
        lines.append(_status_line(result["proposal"]))
    lines.append(f"members approve with: gridchain gov approve {result['id']} --key NAME")
    emit(common["as_json"], result, lines)


def _default_title(content: ProposalContent) -> str:
    if isinstance(content, ParamsChange):
        return "set " + ", ".join(f"{n}={v}" for n, v in content.changes)
    if isinstance(content, RewardsChange):
        return f"rewards {content.reward_per_gib}/GiB, {content.reward_per_core}/core"
    if isinstance(content, ValidatorsChange):
        return f"{len(content.changes)} validator change(s)"
    if isinstance(content, UpgradePlan):
        return f"upgrade {content.name} to {content.version} at block {content.height}"
    return content.text.splitlines()[0][:120]


@propose.command("params")
@click.argument("assignments", nargs=-1, required=True, metavar="NAME=VALUE...")
@propose_options
def propose_params(assignments: tuple[str, ...], **common: Any) -> None:
    """New values for chain parameters, held to the bounds a genesis file is held to."""
    changes: dict[str, int] = {}
    for item in assignments:
        name, sep, text = item.partition("=")
        if not sep or name not in PARAM_BOUNDS:
            known = ", ".join(sorted(PARAM_BOUNDS))
            raise CliError(f"{item!r} is not NAME=VALUE of a chain parameter ({known})")
        changes[name] = spec_integer(text, "NAME=VALUE", item)
        low, high = PARAM_BOUNDS[name]
        if not low <= changes[name] <= high:
            raise CliError(f"{name} = {changes[name]} is outside {low}..{high}")
    _propose(ParamsChange(tuple(sorted(changes.items()))), **common)


@propose.command("rewards")
@click.option("--per-gib", required=True, type=click.IntRange(*PARAM_BOUNDS["reward_per_gib"]))
@click.option("--per-core", required=True, type=click.IntRange(*PARAM_BOUNDS["reward_per_core"]))
@propose_options
def propose_rewards(per_gib: int, per_core: int, **common: Any) -> None:
    """New farming reward rates: credits per proven GiB and per proven core, each epoch."""
    _propose(RewardsChange(per_gib, per_core), **common)


@propose.command("validators")
@click.option("--add", "adds", multiple=True, metavar=VALIDATOR_SHAPE, help="Add a validator.")
@click.option("--remove", "removes", multiple=True, metavar="PUBKEY_HEX", help="Remove one.")
@click.option("--stake", "stakes", multiple=True, metavar="PUBKEY_HEX:BLOCKSTAKE", help="Restake.")
@propose_options
def propose_validators(
    adds: tuple[str, ...], removes: tuple[str, ...], stakes: tuple[str, ...], **common: Any
) -> None:
    """Validator-set changes, decided together; the set changes two blocks after execution."""
    changes: list[ValidatorChange] = [validator_add_from_spec(s, "--add") for s in adds]
    changes += [ValidatorRemove(validator_key_from_hex(k, "--remove")) for k in removes]
    for spec in stakes:
        key_hex, stake = spec_parts(spec, "--stake", "PUBKEY_HEX:BLOCKSTAKE", 2, 2)
        changes.append(
            ValidatorSetStake(
                validator_key_from_hex(key_hex, "--stake"), spec_integer(stake, "--stake", spec)
            )
        )
    if not changes:
        raise CliError("give at least one --add, --remove or --stake")
    _propose(ValidatorsChange(tuple(changes)), **common)


@propose.command("upgrade")
@click.option("--name", "upgrade_name", required=True, help="The upgrade's name.")
@click.option("--height", required=True, type=click.IntRange(min=1), help="Switch at this block.")
@click.option("--version", "release", required=True, help="The release's version.")
@click.option(
    "--artifact",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The release wheel here: its sha256 is computed, and its URL is file:// unless --url.",
)
@click.option("--url", help="Where nodes fetch the wheel (http, https or file).")
@click.option("--sha256", "digest", metavar="HEX", help="The wheel's sha256, without --artifact.")
@propose_options
def propose_upgrade(
    upgrade_name: str,
    height: int,
    release: str,
    artifact: Path | None,
    url: str | None,
    digest: str | None,
    **common: Any,
) -> None:
    """A software release every node switches to at HEIGHT (see docs/governance.md)."""
    if artifact is not None:
        _check_wheel(artifact, release)
        computed = hashlib.sha256(artifact.read_bytes()).hexdigest()
        if digest is not None and digest.lower() != computed:
            raise CliError(f"--sha256 {digest} is not the sha256 of {artifact} ({computed})")
        digest, url = computed, url or artifact.resolve().as_uri()
    if url is None or digest is None:
        raise CliError("give --artifact FILE, or --url and --sha256")
    try:
        sha = bytes.fromhex(digest)
    except ValueError:
        sha = b""
    if len(sha) != 32:
        raise CliError(f"--sha256 {digest!r} is not 64 hex characters")
    _propose(UpgradePlan(upgrade_name, height, release, sha, url), **common)


def _check_wheel(artifact: Path, release: str) -> None:
    """What every supervisor will check, checked before anyone approves: an artifact of
    another version would halt the chain at the upgrade's height."""
    try:
        with zipfile.ZipFile(artifact) as wheel:
            declared = wheel_version(wheel)
    except zipfile.BadZipFile:
        raise CliError(f"--artifact {artifact} is not a wheel") from None
    except ReleaseRefused as exc:
        raise CliError(f"--artifact {artifact}: {exc.message}") from None
    if declared != release:
        raise CliError(f"--artifact {artifact} declares version {declared!r}, not {release!r}")


@propose.command("text")
@click.argument("text")
@propose_options
def propose_text(text: str, **common: Any) -> None:
    """A statement the council signs; it changes nothing."""
    _propose(TextProposal(text), **common)


# Approving and following


@gov.command("approve")
@click.argument("proposal_id", metavar="ID")
@member_options
def approve(proposal_id: str, **common: Any) -> None:
    """Approve proposal ID (the id `gov propose` printed) as a council member."""
    raw = _proposal_id(proposal_id)
    result = _send(GovApprove(raw), **common)
    lines = [f"approved {proposal_id}: {result['id']}", *committed_line(result)]
    if "proposal" in result:
        lines.append(_status_line(result["proposal"]))
    emit(common["as_json"], result, lines)


def _proposal_id(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise CliError(f"ID {text!r} is not a proposal id (64 hex characters)")
    return raw


@gov.command("status")
@click.argument("proposal_id", metavar="ID")
@node_option
@json_option
def status(proposal_id: str, node_url: str | None, as_json: bool) -> None:
    """Where proposal ID stands: its content, who approved it, and what came of it."""
    _proposal_id(proposal_id)
    client = node_client(node_url)
    try:
        view = client.get(f"/v1/proposals/{proposal_id.lower()}")
    except ApiError as exc:
        raise CliError(exc.message, exc.code) from None
    names = {m["public_key"]: m["address"] for m in view.get("council", {}).get("members", [])}
    lines = [
        f"{view.get('id')}: {view.get('kind')}: {view.get('title')}",
        _status_line(view),
        "approved by: " + ", ".join(names.get(k, k) for k in view.get("approvals", [])),
        f"content: {view.get('content')}",
    ]
    emit(as_json, view, lines)


@gov.command("list")
@node_option
@json_option
def list_proposals(node_url: str | None, as_json: bool) -> None:
    """The council, its open proposals and the latest closed ones."""
    view = node_client(node_url).get("/v1/proposals")
    council = view.get("council", {})
    members = ", ".join(f"{m['address']} ({m['weight']})" for m in council.get("members", []))
    lines = [f"council: threshold {council.get('threshold')} of {members}"]
    for p in view.get("proposals", []):
        lines.append(f"{p.get('id')}  {p.get('kind'):<10} {_status_line(p)}  {p.get('title')}")
    if not view.get("proposals"):
        lines.append("no proposals")
    emit(as_json, view, lines)
