"""Governance endpoints: the council, its proposals and where each stands, and the upgrade
the council planned. Read from the head state; the audit log holds every step."""

from typing import Any

from aiohttp import web

from chain.address import key_address
from chain.errors import RuleViolation
from chain.governance.proposals import (
    OPEN,
    Proposal,
    open_index,
    proposal_to_json,
    read_proposal,
    recent_ids,
)
from chain.governance.rules import council_policy, is_satisfied
from chain.governance.upgrade import plan_to_json, running_release, upgrade_plan
from chain.hashing import HASH_SIZE
from chain.ledger.policy import Policy
from chain.state import Overlay
from node.api.context import API
from node.release import VERSION


def council_to_json(policy: Policy) -> dict[str, Any]:
    return {
        "threshold": policy.threshold,
        "members": [
            {
                "public_key": s.public_key.hex(),
                "address": str(key_address(s.public_key)),
                "weight": s.weight,
                "required": s.required,
            }
            for s in policy.signers
        ],
    }


def proposal_view(policy: Policy, proposal: Proposal) -> dict[str, Any]:
    """The proposal and, while it is open, how far its approvals are from the policy."""
    weights = {s.public_key: s.weight for s in policy.signers}
    view = proposal_to_json(proposal)
    view["approved_weight"] = sum(weights.get(k, 0) for k in proposal.approvals)
    view["threshold"] = policy.threshold
    view["satisfied"] = is_satisfied(policy, proposal.approvals)
    return view


def _proposal_id(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != HASH_SIZE:
        raise RuleViolation(f"proposal id {text!r} is not 64 hex characters")
    return raw


async def get_proposals(request: web.Request) -> web.Response:
    """The open proposals and the latest closed ones, newest first."""
    node = request.app[API].node
    with node.store.snapshot() as snap:
        state = Overlay(snap)
        policy = council_policy(state)
        head = snap.head()
        ids = [i for _, i in open_index(state)]
        ids += [i for i in reversed(recent_ids(state)) if i not in ids]
        proposals = [p for p in (read_proposal(state, i) for i in ids) if p is not None]
    proposals.sort(key=lambda p: (p.status != OPEN, -p.submitted_at))
    return web.json_response(
        {
            "height": None if head is None else head.height,
            "council": council_to_json(policy),
            "proposals": [proposal_view(policy, p) for p in proposals],
        }
    )


async def get_proposal(request: web.Request) -> web.Response:
    node = request.app[API].node
    proposal_id = _proposal_id(request.match_info["proposal_id"])
    with node.store.snapshot() as snap:
        state = Overlay(snap)
        proposal = read_proposal(state, proposal_id)
        policy = council_policy(state)
        head = snap.head()
    if proposal is None:
        raise web.HTTPNotFound(text=f"no proposal {proposal_id.hex()}")
    view = proposal_view(policy, proposal)
    view["height"] = None if head is None else head.height
    view["council"] = council_to_json(policy)
    return web.json_response(view)


async def get_upgrade(request: web.Request) -> web.Response:
    """The release the chain runs (the upgrade that installed it), the planned one, and the
    release this node runs."""
    node = request.app[API].node
    with node.store.snapshot() as snap:
        plan = upgrade_plan(snap)
        running = running_release(snap)
        head = snap.head()
    return web.json_response(
        {
            "height": None if head is None else head.height,
            "running": plan_to_json(running),
            "plan": plan_to_json(plan),
            "node_version": VERSION,
        }
    )


def add_governance_routes(app: web.Application) -> None:
    app.router.add_get("/v1/proposals", get_proposals)
    app.router.add_get("/v1/proposals/{proposal_id}", get_proposal)
    app.router.add_get("/v1/upgrade", get_upgrade)
