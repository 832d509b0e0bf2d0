"""Chain parameters: fixed at genesis, stored in the state, read by every block.

Slashing parameters are in basis points (1 bp = 1/10000) so every rule stays in integers.
"""

from dataclasses import dataclass, fields
from typing import Any

from chain.encoding import expect_int, expect_map
from chain.errors import InvalidParams

BASIS_POINTS = 10_000
MAX_DOWNTIME_WINDOW = 10_000
MAX_PARAM = 2**63 - 1
MAX_PARAM_BLOCKS = 10**12
MAX_PRICE = 10**12
# Bounds that keep the chain governable: whatever the council sets, a transaction (a proposal
# undoing it among them) stays payable and fits in a block.
MAX_MIN_FEE = 10**9
MIN_BLOCK_BYTES = 128 * 1024  # the largest transaction (chain/ledger/transactions.py)
# Farming limits (fixed by the code, not by genesis).
RECENT_HASHES = 64  # block hashes the state keeps for heartbeats and compute challenges
MAX_EPOCH_BLOCKS = 1_000_000
MAX_STORAGE_CHALLENGES = 256
MIN_PLOT_K = 18  # chiapos refuses smaller plots
MAX_PLOT_K = 50
MAX_CORES = 1_024
MAX_COMPUTE_UNITS = 1_048_576
MAX_COMPUTE_SAMPLES = 16


@dataclass(frozen=True)
class ChainParams:
    min_fee: int = 1
    max_block_txs: int = 10_000
    max_block_bytes: int = 8 * 1024 * 1024
    block_interval_ms: int = 1_000
    empty_block_interval_ms: int = 10_000
    # Double signing: share of blockstake burnt; the validator is jailed for ever (tombstoned).
    double_sign_slash_bp: int = 500
    # Downtime: over the last `downtime_window` heights a validator must have signed at least
    # downtime_min_signed_bp of them, else it loses downtime_slash_bp of its blockstake and is
    # jailed for downtime_jail_blocks blocks.
    downtime_window: int = 100
    downtime_min_signed_bp: int = 5_000
    downtime_slash_bp: int = 100
    downtime_jail_blocks: int = 600
    # Evidence older than this many blocks is refused.
    evidence_max_age: int = 100_000
    # Contracts: a call pays min_fee + gas_used * gas_price and may use up to max_tx_gas.
    gas_price: int = 1
    max_tx_gas: int = 10_000_000
    # Capacity billing (chain/deployment/billing.py): prices are credits per capacity unit
    # (CU, SU) and per public IPv4 for a period of billing_period_blocks, pro-rated by block.
    # A deployment whose escrow runs short pauses for grace_period_blocks, waiting for a top-up.
    billing_period_blocks: int = 600
    grace_period_blocks: int = 1_209_600
    price_cu: int = 100_000
    price_su: int = 50_000
    price_ipv4: int = 5_000
    # Farming (chain/farming/rules.py, chain/farming/rewards.py): epochs of epoch_blocks blocks. A
    # node sends a heartbeat per slot of heartbeat_interval_blocks; below min_uptime_bp of its slots
    # it earns nothing, above it its reward is scaled by uptime. Storage is proven against
    # storage_challenges challenges per epoch with plots of at least plot_min_k; compute by
    # compute_units_per_core scrypt units (N = 2**compute_scrypt_log_n, r = compute_scrypt_r) per
    # declared core, committed within compute_deadline_blocks of the challenge and compute_samples
    # of them revealed within compute_reveal_blocks. Rewards per epoch: per proven GiB and per
    # proven core. A farm bonds farm_min_bond at least; a wrong compute answer costs it
    # farm_slash_bp of its bond.
    epoch_blocks: int = 600
    heartbeat_interval_blocks: int = 20
    min_uptime_bp: int = 9_500
    storage_challenges: int = 32
    plot_min_k: int = 32
    compute_units_per_core: int = 100
    compute_scrypt_log_n: int = 14
    compute_scrypt_r: int = 8
    compute_samples: int = 4
    compute_deadline_blocks: int = 20
    compute_reveal_blocks: int = 20
    reward_per_gib: int = 1_000
    reward_per_core: int = 10_000
    farm_min_bond: int = 1_000_000
    farm_slash_bp: int = 10_000
    # Deployment (chain/deployment/): a node with no heartbeat in node_down_blocks is not up,
    # so nothing is placed on it; a workload no node can take is tried again every
    # placement_retry_blocks until its request expires. A node's agent that reports a replica
    # failed has it placed elsewhere after replica_retry_blocks, doubling with each failure of
    # the same version; after replica_max_failures failures it stays failed.
    node_down_blocks: int = 60
    placement_retry_blocks: int = 10
    replica_retry_blocks: int = 10
    replica_max_failures: int = 3


PARAM_NAMES = tuple(f.name for f in fields(ChainParams))

# The bounds of every parameter: what a genesis file may set, what a council proposal may
# change it to, and what a stored value must respect. One table, so the three never differ.
PARAM_BOUNDS: dict[str, tuple[int, int]] = {
    **{name: (0, MAX_PARAM) for name in PARAM_NAMES},
    "min_fee": (0, MAX_MIN_FEE),
    "max_block_txs": (1, 100_000),
    "max_block_bytes": (MIN_BLOCK_BYTES, 32 * 1024 * 1024),
    "block_interval_ms": (50, 600_000),
    "empty_block_interval_ms": (50, 3_600_000),
    "double_sign_slash_bp": (0, BASIS_POINTS),
    "downtime_window": (1, MAX_DOWNTIME_WINDOW),
    "downtime_min_signed_bp": (0, BASIS_POINTS),
    "downtime_slash_bp": (0, BASIS_POINTS),
    "downtime_jail_blocks": (0, MAX_PARAM_BLOCKS),
    "evidence_max_age": (1, MAX_PARAM_BLOCKS),
    "gas_price": (0, 10**6),
    "max_tx_gas": (10_000, 10**9),
    "billing_period_blocks": (1, MAX_PARAM_BLOCKS),
    "grace_period_blocks": (0, MAX_PARAM_BLOCKS),
    "price_cu": (0, MAX_PRICE),
    "price_su": (0, MAX_PRICE),
    "price_ipv4": (0, MAX_PRICE),
    "epoch_blocks": (4, MAX_EPOCH_BLOCKS),
    "heartbeat_interval_blocks": (1, RECENT_HASHES),
    "min_uptime_bp": (0, BASIS_POINTS),
    "storage_challenges": (1, MAX_STORAGE_CHALLENGES),
    "plot_min_k": (MIN_PLOT_K, MAX_PLOT_K),
    "compute_units_per_core": (1, MAX_COMPUTE_UNITS // MAX_CORES),
    "compute_scrypt_log_n": (1, 20),
    "compute_scrypt_r": (1, 16),
    "compute_samples": (1, MAX_COMPUTE_SAMPLES),
    "compute_deadline_blocks": (1, RECENT_HASHES // 2),
    "compute_reveal_blocks": (1, RECENT_HASHES // 2),
    "reward_per_gib": (0, MAX_PRICE),
    "reward_per_core": (0, MAX_PRICE),
    "farm_slash_bp": (0, BASIS_POINTS),
    "node_down_blocks": (1, MAX_PARAM_BLOCKS),
    "placement_retry_blocks": (1, MAX_PARAM_BLOCKS),
    "replica_retry_blocks": (1, MAX_PARAM_BLOCKS),
    "replica_max_failures": (1, 100),
}


def validate_params(params: ChainParams) -> None:
    for name in PARAM_NAMES:
        low, high = PARAM_BOUNDS[name]
        value = getattr(params, name)
        if type(value) is not int or not low <= value <= high:
            raise InvalidParams(f"parameter {name} = {value!r} is outside {low}..{high}")
    check_epoch_layout(params)


def check_epoch_layout(params: ChainParams) -> None:
    """An epoch holds whole heartbeat slots, and a compute challenge with its deadline and
    reveal window fits inside it (so every epoch settles from its own blocks)."""
    if params.epoch_blocks % params.heartbeat_interval_blocks:
        raise InvalidParams(
            f"epoch_blocks {params.epoch_blocks} is not a multiple of "
            f"heartbeat_interval_blocks {params.heartbeat_interval_blocks}"
        )
    if compute_window(params) < 1:
        raise InvalidParams(
            f"epoch_blocks {params.epoch_blocks} leaves no room for a compute challenge: it "
            f"must exceed compute_deadline_blocks + compute_reveal_blocks + 1"
        )


def compute_window(params: ChainParams) -> int:
    """How many heights of an epoch a compute challenge may fall on (its first ones)."""
    return params.epoch_blocks - params.compute_deadline_blocks - params.compute_reveal_blocks - 1


def params_to_value(params: ChainParams) -> dict[str, Any]:
    return {name: getattr(params, name) for name in PARAM_NAMES}


def params_from_value(value: Any) -> ChainParams:
    f = expect_map(value, "params", PARAM_NAMES)
    return ChainParams(
        **{name: expect_int(f[name], name, *PARAM_BOUNDS[name]) for name in PARAM_NAMES}
    )
