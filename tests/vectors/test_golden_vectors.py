"""Today's bytes stay today's bytes: every encoding and rule output in tests/vectors/golden.json.

A refactoring that changes one of them changes the protocol (transaction ids, block hashes,
signatures peers check, state and audit roots an auditor verifies).
"""

import json
from typing import Any

from tests.vectors.golden import FILE, compute


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where two JSON values differ, as paths (so a failure names what changed)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        keys = sorted(set(expected) | set(actual))
        return [d for k in keys for d in differences(expected.get(k), actual.get(k), f"{path}/{k}")]
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in differences(e, a, f"{path}/{i}")
        ]
    return [] if expected == actual else [path or "/"]


def test_every_golden_vector_is_unchanged() -> None:
    expected = json.loads(FILE.read_text())
    changed = differences(expected, compute())
    assert not changed, f"protocol bytes changed at {changed[:20]}"


def test_the_vectors_cover_every_transaction_kind() -> None:
    from chain.ledger.transactions import PAYLOAD_TYPES

    kinds = set(json.loads(FILE.read_text())["transactions"])
    assert set(PAYLOAD_TYPES) <= kinds
