"""Software releases: the one the chain runs, and the one the council planned.

The running release is what every block must be made by (its header's `version`). The genesis
file may pin one (`software_version`); if it does not, any release may make blocks until the
first upgrade. An approved `upgrade` proposal stores its plan (one at a time: a later one
replaces it); when block `plan.height` begins, the plan becomes the running release
(chain/governance/rules.py, `switch_release`), and that block and every one after it must carry
the new version. Nodes running another release stop
before that height (node/release.py) rather than vote or build on rules they do not hold.
"""

from typing import Any

from chain.encoding import (
    decode_stored,
    encode,
    expect_bytes,
    expect_int,
    expect_map,
    expect_text,
    stored_record,
)
from chain.governance.txs import (
    MAX_UPGRADE_NAME,
    MAX_URL,
    UpgradePlan,
    content_from_value,
    content_to_json,
    content_to_value,
)
from chain.hashing import HASH_SIZE, tagged_hash
from chain.state import Overlay, StateReader

PLAN_KEY = tagged_hash(b"gc/gov/plan", b"")
RELEASE_KEY = tagged_hash(b"gc/gov/release", b"")
GENESIS_RELEASE = "genesis"  # the name of a release the genesis file pinned


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


def genesis_release(version: str) -> UpgradePlan:
    """The release a genesis file pins: no artifact, in force from height 0."""
    return UpgradePlan(GENESIS_RELEASE, 0, version, bytes(HASH_SIZE), "")


def release_record(release: UpgradePlan) -> bytes:
    return encode(content_to_value(release))


@stored_record("running release")
def running_release(reader: StateReader) -> UpgradePlan | None:
    """The release the chain runs now (the plan that installed it), None if none is pinned."""
    raw = reader.get_state(RELEASE_KEY)
    if raw is None:
        return None
    f = expect_map(decode_stored(raw), "release", ("name", "height", "version", "sha256", "url"))
    return UpgradePlan(
        expect_text(f["name"], "release name", MAX_UPGRADE_NAME),
        expect_int(f["height"], "release height"),
        expect_text(f["version"], "release version", 64),
        expect_bytes(f["sha256"], "release sha256", HASH_SIZE),
        expect_text(f["url"], "release url", MAX_URL),
    )


def required_release(reader: StateReader, height: int) -> UpgradePlan | None:
    """The release block `height` must be made by, read from the state before that block."""
    plan = upgrade_plan(reader)
    if plan is not None and height >= plan.height:
        return plan
    return running_release(reader)


def plan_to_json(plan: UpgradePlan | None) -> dict[str, Any] | None:
    return None if plan is None else content_to_json(plan)
