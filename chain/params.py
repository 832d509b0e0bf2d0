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
    # Capacity billing (contracts_std/billing.py): usage is billed per period of
    # billing_period_blocks; prices are credits per unit per period (CU and SU in thousandths,
    # as the contract computes them in milli-units), per public IPv4 and per GB of traffic.
    # A contract whose escrow runs short waits grace_period_blocks for a top-up.
    billing_period_blocks: int = 600
    grace_period_blocks: int = 1_209_600
    price_cu: int = 100_000
    price_su: int = 50_000
    price_ipv4: int = 5_000
    price_nu: int = 1_000


PARAM_NAMES = tuple(f.name for f in fields(ChainParams))

# Bounds every stored or genesis value must respect (genesis/schema.py may be stricter).
PARAM_BOUNDS: dict[str, tuple[int, int]] = {
    **{name: (0, MAX_PARAM) for name in PARAM_NAMES},
    "double_sign_slash_bp": (0, BASIS_POINTS),
    "downtime_window": (1, MAX_DOWNTIME_WINDOW),
    "downtime_min_signed_bp": (0, BASIS_POINTS),
    "downtime_slash_bp": (0, BASIS_POINTS),
    "evidence_max_age": (1, MAX_PARAM),
    "billing_period_blocks": (1, MAX_PARAM),
}


def validate_params(params: ChainParams) -> None:
    for name in PARAM_NAMES:
        low, high = PARAM_BOUNDS[name]
        value = getattr(params, name)
        if type(value) is not int or not low <= value <= high:
            raise InvalidParams(f"parameter {name} = {value!r} is outside {low}..{high}")


def params_to_value(params: ChainParams) -> dict[str, Any]:
    return {name: getattr(params, name) for name in PARAM_NAMES}


def params_from_value(value: Any) -> ChainParams:
    f = expect_map(value, "params", PARAM_NAMES)
    return ChainParams(
        **{name: expect_int(f[name], name, *PARAM_BOUNDS[name]) for name in PARAM_NAMES}
    )
