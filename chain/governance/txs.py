"""The council's proposals: what they may change, and the two transactions that carry them.

A council member proposes (`gov_propose`), the others approve (`gov_approve`), each from their
own key account and so signed by their own key on their own machine; the proposal executes in
the block where the approvals satisfy the council's policy (chain/governance/rules.py).

Kinds of proposal:
  - `params`: new values of chain parameters, held to the bounds a genesis file is held to;
  - `rewards`: the farming reward rates (what the `set_rewards` transaction once did);
  - `validators`: the council's validator-set changes (chain/staking/txs.py), decided together;
  - `upgrade`: a software release every node switches to at a height (chain/governance/upgrade.py);
  - `text`: a statement the council signs, which changes nothing.
"""

import re
from dataclasses import dataclass
from typing import Any

from packaging.version import InvalidVersion, Version

from chain.encoding import expect_bytes, expect_int, expect_list, expect_map, expect_text
from chain.errors import EncodingError
from chain.hashing import HASH_SIZE
from chain.ledger.codec import PayloadCodec
from chain.params import PARAM_BOUNDS, PARAM_NAMES
from chain.staking.txs import (
    ValidatorChange,
    validator_change_from_value,
    validator_change_to_json,
    validator_change_to_value,
)

MAX_TITLE = 128
MAX_TEXT = 4096
MAX_PARAM_CHANGES = len(PARAM_NAMES)
MAX_VALIDATOR_CHANGES = 16
MAX_VOTING_BLOCKS = 1_000_000
MAX_UPGRADE_NAME = 64
MAX_URL = 512
VERSION_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+!_-]{0,63}\Z")  # a PEP 440 version, loosely


def check_release_version(version: str) -> None:
    """A release version in PEP 440's normal form: the form a built wheel declares, so the
    supervisor can match an artifact to the plan (`v0.2.0` or `0.2.0-rc1` would never match)."""
    if not VERSION_RE.fullmatch(version):
        raise EncodingError(f"release version {version!r} is not a version")
    try:
        normal = str(Version(version))
    except InvalidVersion:
        raise EncodingError(f"release version {version!r} is not a PEP 440 version") from None
    if normal != version:
        raise EncodingError(f"release version {version!r} is not in normal form: {normal!r}")


@dataclass(frozen=True)
class ParamsChange:
    """New values for some parameters, sorted by name."""

    changes: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class RewardsChange:
    reward_per_gib: int
    reward_per_core: int


@dataclass(frozen=True)
class ValidatorsChange:
    changes: tuple[ValidatorChange, ...]


@dataclass(frozen=True)
class UpgradePlan:
    """Switch every node to release `version` at `height`: the artifact at `url` whose sha256
    is `sha256` (a wheel of the gridchain distribution)."""

    name: str
    height: int
    version: str
    sha256: bytes
    url: str


@dataclass(frozen=True)
class TextProposal:
    text: str


ProposalContent = ParamsChange | RewardsChange | ValidatorsChange | UpgradePlan | TextProposal


@dataclass(frozen=True)
class GovPropose:
    """Submit a proposal, approved by its proposer; open for approvals until `voting_blocks`
    blocks after the one that holds it."""

    title: str
    content: ProposalContent
    voting_blocks: int


@dataclass(frozen=True)
class GovApprove:
    """Approve an open proposal, by the id of the transaction that submitted it."""

    proposal: bytes


GovernancePayload = GovPropose | GovApprove


# Contents


def _params_to_value(content: ParamsChange) -> dict[str, Any]:
    return dict(content.changes)


def _params_from_value(value: Any) -> ParamsChange:
    if not isinstance(value, dict) or not 1 <= len(value) <= MAX_PARAM_CHANGES:
        raise EncodingError(f"a params proposal changes 1 to {MAX_PARAM_CHANGES} parameters")
    changes = []
    for name in sorted(value, key=str):
        if name not in PARAM_BOUNDS:
            raise EncodingError(f"{name!r} is not a chain parameter")
        changes.append((name, expect_int(value[name], name, *PARAM_BOUNDS[name])))
    return ParamsChange(tuple(changes))


def _rewards_to_value(content: RewardsChange) -> dict[str, Any]:
    return {"reward_per_gib": content.reward_per_gib, "reward_per_core": content.reward_per_core}


def _rewards_from_value(value: Any) -> RewardsChange:
    f = expect_map(value, "rewards proposal", ("reward_per_gib", "reward_per_core"))
    return RewardsChange(
        expect_int(f["reward_per_gib"], "reward_per_gib", *PARAM_BOUNDS["reward_per_gib"]),
        expect_int(f["reward_per_core"], "reward_per_core", *PARAM_BOUNDS["reward_per_core"]),
    )


def _validators_to_value(content: ValidatorsChange) -> dict[str, Any]:
    return {"changes": [validator_change_to_value(c) for c in content.changes]}


def _validators_from_value(value: Any) -> ValidatorsChange:
    f = expect_map(value, "validators proposal", ("changes",))
    items = expect_list(f["changes"], "validator changes", MAX_VALIDATOR_CHANGES)
    if not items:
        raise EncodingError("a validators proposal makes at least one change")
    return ValidatorsChange(tuple(validator_change_from_value(item) for item in items))


def _upgrade_to_value(content: UpgradePlan) -> dict[str, Any]:
    return {
        "name": content.name,
        "height": content.height,
        "version": content.version,
        "sha256": content.sha256,
        "url": content.url,
    }


def _upgrade_from_value(value: Any) -> UpgradePlan:
    f = expect_map(value, "upgrade proposal", ("name", "height", "version", "sha256", "url"))
    name = expect_text(f["name"], "upgrade name", MAX_UPGRADE_NAME)
    version = expect_text(f["version"], "upgrade version", 64)
    url = expect_text(f["url"], "upgrade url", MAX_URL)
    if not name:
        raise EncodingError("an upgrade needs a name")
    check_release_version(version)
    if not url.startswith(("https://", "http://", "file://")):
        raise EncodingError(f"upgrade url {url!r} is not an http(s) or file URL")
    return UpgradePlan(
        name,
        expect_int(f["height"], "upgrade height", 1),
        version,
        expect_bytes(f["sha256"], "upgrade sha256", HASH_SIZE),
        url,
    )


def _text_to_value(content: TextProposal) -> dict[str, Any]:
    return {"text": content.text}


def _text_from_value(value: Any) -> TextProposal:
    text = expect_text(expect_map(value, "text proposal", ("text",))["text"], "text", MAX_TEXT)
    if not text.strip():
        raise EncodingError("a text proposal says something")
    return TextProposal(text)


CONTENT_CODECS: tuple[PayloadCodec, ...] = (
    PayloadCodec("params", ParamsChange, _params_to_value, _params_from_value),
    PayloadCodec("rewards", RewardsChange, _rewards_to_value, _rewards_from_value),
    PayloadCodec("validators", ValidatorsChange, _validators_to_value, _validators_from_value),
    PayloadCodec("upgrade", UpgradePlan, _upgrade_to_value, _upgrade_from_value),
    PayloadCodec("text", TextProposal, _text_to_value, _text_from_value),
)
CONTENT_BY_KIND = {c.kind: c for c in CONTENT_CODECS}
KIND_OF_CONTENT = {c.cls: c.kind for c in CONTENT_CODECS}
PROPOSAL_KINDS = tuple(CONTENT_BY_KIND)


def content_kind(content: ProposalContent) -> str:
    return KIND_OF_CONTENT[type(content)]


def content_to_value(content: ProposalContent) -> dict[str, Any]:
    return CONTENT_BY_KIND[content_kind(content)].to_value(content)


def content_from_value(kind: str, value: Any) -> ProposalContent:
    codec = CONTENT_BY_KIND.get(kind)
    if codec is None:
        raise EncodingError(
            f"unknown proposal kind {kind!r}; the kinds: {', '.join(PROPOSAL_KINDS)}"
        )
    content: ProposalContent = codec.from_value(value)
    return content


def content_to_json(content: ProposalContent) -> dict[str, Any]:
    """The content's fields, bytes in hex, validator changes as their readable views."""
    if isinstance(content, ValidatorsChange):
        return {
            "changes": [
                {"kind": validator_change_to_value(c)[0], **validator_change_to_json(c)}
                for c in content.changes
            ]
        }
    value = content_to_value(content)
    return {name: v.hex() if isinstance(v, bytes) else v for name, v in value.items()}


# The transactions


def _propose_to_value(payload: GovPropose) -> dict[str, Any]:
    return {
        "title": payload.title,
        "kind": content_kind(payload.content),
        "content": content_to_value(payload.content),
        "voting_blocks": payload.voting_blocks,
    }


def _propose_from_value(value: Any) -> GovPropose:
    f = expect_map(value, "gov_propose", ("title", "kind", "content", "voting_blocks"))
    title = expect_text(f["title"], "proposal title", MAX_TITLE)
    if not title.strip():
        raise EncodingError("a proposal needs a title")
    return GovPropose(
        title,
        content_from_value(expect_text(f["kind"], "proposal kind", 32), f["content"]),
        expect_int(f["voting_blocks"], "voting_blocks", 1, MAX_VOTING_BLOCKS),
    )


def _approve_to_value(payload: GovApprove) -> dict[str, Any]:
    return {"proposal": payload.proposal}


def _approve_from_value(value: Any) -> GovApprove:
    f = expect_map(value, "gov_approve", ("proposal",))
    return GovApprove(expect_bytes(f["proposal"], "proposal id", HASH_SIZE))


GOVERNANCE_CODECS: tuple[PayloadCodec, ...] = (
    PayloadCodec("gov_propose", GovPropose, _propose_to_value, _propose_from_value),
    PayloadCodec("gov_approve", GovApprove, _approve_to_value, _approve_from_value),
)


def governance_payload_to_json(payload: GovernancePayload) -> dict[str, Any]:
    if isinstance(payload, GovApprove):
        return {"proposal": payload.proposal.hex()}
    return {
        "title": payload.title,
        "kind": content_kind(payload.content),
        "content": content_to_json(payload.content),
        "voting_blocks": payload.voting_blocks,
    }
