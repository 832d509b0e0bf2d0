"""The software upgrade the council approved: at most one plan at a time.

An approved `upgrade` proposal stores its plan here; a later one replaces it (the council
changes its mind by approving another), and a plan whose height has passed is done.
"""

from typing import Any

from chain.encoding import decode_stored, encode, stored_record
from chain.governance.txs import UpgradePlan, content_from_value, content_to_json, content_to_value
from chain.hashing import tagged_hash
from chain.state import Overlay, StateReader

PLAN_KEY = tagged_hash(b"gc/gov/plan", b"")


@stored_record("upgrade plan")
def upgrade_plan(reader: StateReader) -> UpgradePlan | None:
    raw = reader.get_state(PLAN_KEY)
    if raw is None:
        return None
    plan = content_from_value("upgrade", decode_stored(raw))
    assert isinstance(plan, UpgradePlan)
    return plan


def set_upgrade_plan(state: Overlay, plan: UpgradePlan) -> None:
    state.set_state(PLAN_KEY, encode(content_to_value(plan)))


def plan_to_json(plan: UpgradePlan | None) -> dict[str, Any] | None:
    return None if plan is None else content_to_json(plan)
