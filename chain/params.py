"""Chain parameters fixed at genesis (the council may change them in later versions)."""

from dataclasses import dataclass, fields
from typing import Any

from chain.encoding import expect_int, expect_map


@dataclass(frozen=True)
class ChainParams:
    min_fee: int = 1
    max_block_txs: int = 10_000
    max_block_bytes: int = 8 * 1024 * 1024
    block_interval_ms: int = 1_000
    empty_block_interval_ms: int = 10_000


PARAM_NAMES = tuple(f.name for f in fields(ChainParams))


def params_to_value(params: ChainParams) -> dict[str, Any]:
    return {name: getattr(params, name) for name in PARAM_NAMES}


def params_from_value(value: Any) -> ChainParams:
    f = expect_map(value, "params", PARAM_NAMES)
    return ChainParams(**{name: expect_int(f[name], name, 0, 2**63 - 1) for name in PARAM_NAMES})
