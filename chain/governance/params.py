"""Parameter changes the council decides, and when each takes effect.

Most take effect from the block after the one that executes the proposal. Those that shape a
farming epoch (its proofs, challenges and uptime threshold) wait for the next epoch's first
block, so an epoch is proven and settled under one set of rules. Two cannot change at all:
farming numbers epochs and heartbeat slots by `epoch_blocks` and `heartbeat_interval_blocks`
from height 1, so changing either would renumber the past.
"""

from dataclasses import replace

from chain.encoding import decode_stored, encode, expect_int, expect_map, stored_record
from chain.env import BlockEnv
from chain.errors import EncodingError, InvalidTransaction
from chain.hashing import tagged_hash
from chain.params import PARAM_BOUNDS, ChainParams, validate_params
from chain.state import PARAMS_KEY, Overlay, StateReader, params_record

FIXED_PARAMS = ("epoch_blocks", "heartbeat_interval_blocks")
EPOCH_PARAMS = (
    "min_uptime_bp",
    "storage_challenges",
    "plot_min_k",
    "compute_units_per_core",
    "compute_scrypt_log_n",
    "compute_scrypt_r",
    "compute_samples",
    "compute_deadline_blocks",
    "compute_reveal_blocks",
)
PENDING_PARAMS_KEY = tagged_hash(b"gc/gov/params", b"")


class FixedParameter(InvalidTransaction):
    code = "fixed_parameter"


@stored_record("pending parameters")
def pending_params(reader: StateReader) -> dict[str, int]:
    """Epoch parameters decided, waiting for the next epoch's first block."""
    raw = reader.get_state(PENDING_PARAMS_KEY)
    if raw is None:
        return {}
    value = decode_stored(raw)
    names = tuple(sorted(value)) if isinstance(value, dict) else ()
    if not set(names) <= set(EPOCH_PARAMS):
        raise EncodingError(f"pending parameters {names} are not epoch parameters")
    f = expect_map(value, "pending parameters", names)
    return {name: expect_int(f[name], name, *PARAM_BOUNDS[name]) for name in names}


def check_changeable(changes: dict[str, int]) -> None:
    for name in sorted(changes):
        if name in FIXED_PARAMS:
            raise FixedParameter(
                f"{name} is fixed at genesis: farming numbers its epochs and heartbeat slots "
                "by it from height 1"
            )


def planned_params(state: Overlay, changes: dict[str, int]) -> tuple[ChainParams, dict[str, int]]:
    """The parameters from the next block on, and the epoch parameters then waiting, after
    `changes`; both checked as a genesis file's are."""
    check_changeable(changes)
    now = {n: v for n, v in changes.items() if n not in EPOCH_PARAMS}
    waiting = {**pending_params(state), **{n: v for n, v in changes.items() if n in EPOCH_PARAMS}}
    current = replace(state.params(), **now)
    validate_params(current)
    validate_params(replace(current, **waiting))  # what the next epoch will run
    return current, waiting


def change_params(state: Overlay, changes: dict[str, int]) -> None:
    current, waiting = planned_params(state, changes)
    state.set_state(PARAMS_KEY, params_record(current))
    if waiting:
        state.set_state(PENDING_PARAMS_KEY, encode(dict(sorted(waiting.items()))))


def apply_pending_params(env: BlockEnv, state: Overlay) -> dict[str, int]:
    """On an epoch's first block, before the epoch starts: the waiting epoch parameters take
    effect (for the blocks after this one: this block runs on what it began with). Returns
    what changed."""
    if (env.height - 1) % env.params.epoch_blocks:
        return {}
    waiting = pending_params(state)
    if not waiting:
        return {}
    state.set_state(PARAMS_KEY, params_record(replace(state.params(), **waiting)))
    state.delete_state(PENDING_PARAMS_KEY)
    return waiting
