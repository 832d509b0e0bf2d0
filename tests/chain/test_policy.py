"""Multisig policies: the satisfaction rule, validation, and the canonical value form."""

from itertools import combinations
from typing import Any

import pytest

from chain.encoding import decode, encode
from chain.errors import EncodingError, InvalidPolicy, PolicyNotSatisfied
from chain.hashing import hash32
from chain.keys import keypair_from_seed
from chain.ledger.policy import (
    MAX_SIGNERS,
    MAX_WEIGHT,
    Policy,
    Signer,
    make_policy,
    policy_from_value,
    policy_to_json,
    policy_to_value,
    require_change_satisfied,
    require_satisfied,
    validate_policy,
)

KEYS = sorted(keypair_from_seed(hash32(b"policy/%d" % i)).public_key for i in range(40))
A, B, C, D = KEYS[:4]
OUTSIDER = keypair_from_seed(hash32(b"policy/outsider")).public_key


def satisfied(policy: Policy, signers: list[bytes]) -> bool:
    try:
        require_satisfied(policy, signers)
    except PolicyNotSatisfied:
        return False
    return True


# --- the rule -----------------------------------------------------------------------------------


def test_two_of_three_equal_weights() -> None:
    policy = make_policy([Signer(k, 1) for k in (A, B, C)], 2)
    for one in (A, B, C):
        assert not satisfied(policy, [one])
    for pair in combinations((A, B, C), 2):
        assert satisfied(policy, list(pair))
    assert satisfied(policy, [A, B, C])
    assert not satisfied(policy, [])


def test_below_threshold_message_names_weights() -> None:
    policy = make_policy([Signer(k, 1) for k in (A, B, C)], 2)
    with pytest.raises(PolicyNotSatisfied, match="weight 1 is below the threshold 2"):
        require_satisfied(policy, [B])


def test_required_signer_plus_one_other() -> None:
    """'A must sign plus one of B or C'."""
    policy = make_policy([Signer(A, 1, required=True), Signer(B, 1), Signer(C, 1)], 2)
    assert not satisfied(policy, [A])
    with pytest.raises(PolicyNotSatisfied, match="required"):
        require_satisfied(policy, [B, C])
    assert satisfied(policy, [A, B])
    assert satisfied(policy, [A, C])
    assert satisfied(policy, [A, B, C])


def test_required_signer_is_needed_even_when_weight_is_reached() -> None:
    policy = make_policy([Signer(A, 1, required=True), Signer(B, 5), Signer(C, 5)], 5)
    assert not satisfied(policy, [B])
    assert not satisfied(policy, [B, C])
    assert satisfied(policy, [A, B])


def test_weighted_signers() -> None:
    policy = make_policy([Signer(A, 3), Signer(B, 1), Signer(C, 1), Signer(D, 1)], 3)
    assert satisfied(policy, [A])
    assert satisfied(policy, [B, C, D])
    assert not satisfied(policy, [B, C])


def test_optional_signers_may_stay_silent() -> None:
    policy = make_policy([Signer(A, 1), Signer(B, 1), Signer(C, 1), Signer(D, 1)], 1)
    for key in (A, B, C, D):
        assert satisfied(policy, [key])


def test_non_signer_key_is_refused_even_with_enough_weight() -> None:
    policy = make_policy([Signer(A, 1), Signer(B, 1), Signer(C, 1)], 2)
    with pytest.raises(PolicyNotSatisfied, match="not a signer"):
        require_satisfied(policy, [A, B, OUTSIDER])
    with pytest.raises(PolicyNotSatisfied, match="not a signer"):
        require_satisfied(policy, [OUTSIDER])


def test_repeated_signer_counts_once() -> None:
    policy = make_policy([Signer(A, 1), Signer(B, 1), Signer(C, 1)], 2)
    assert not satisfied(policy, [A, A])
    assert not satisfied(policy, [A, A, A])


# --- validation ---------------------------------------------------------------------------------


def test_make_policy_sorts_signers() -> None:
    policy = make_policy([Signer(C, 1), Signer(A, 1), Signer(B, 1)], 2)
    assert [s.public_key for s in policy.signers] == [A, B, C]


def test_valid_policy_passes() -> None:
    validate_policy(Policy((Signer(A, 1), Signer(B, 2)), 3))
    validate_policy(Policy((Signer(A, MAX_WEIGHT),), MAX_WEIGHT))
    validate_policy(Policy(tuple(Signer(k, 1) for k in KEYS[:MAX_SIGNERS]), MAX_SIGNERS))


@pytest.mark.parametrize(
    ("policy", "pattern"),
    [
        (Policy((Signer(B, 1), Signer(A, 1)), 1), "sorted"),
        (Policy((Signer(A, 1), Signer(A, 1)), 1), "unique"),
        (Policy((Signer(A, 1), Signer(A, 2)), 1), "unique"),
        (Policy((Signer(A, 0), Signer(B, 1)), 1), "weight 0"),
        (Policy((Signer(A, MAX_WEIGHT + 1),), 1), "weight"),
        (Policy((Signer(A, -1),), 1), "weight"),
        (Policy((Signer(A, 1), Signer(B, 1)), 3), "threshold 3"),
        (Policy((Signer(A, 1), Signer(B, 1)), 0), "threshold 0"),
        (Policy((Signer(A, 1),), -1), "threshold"),
        (Policy((), 1), "signers"),
        (Policy(tuple(Signer(k, 1) for k in KEYS[: MAX_SIGNERS + 1]), 1), "signers"),
        (Policy((Signer(A[:31], 1),), 1), "32 bytes"),
        (Policy((Signer(A + b"\x00", 1),), 1), "32 bytes"),
    ],
    ids=[
        "unsorted",
        "duplicate",
        "duplicate key other weight",
        "zero weight",
        "weight above max",
        "negative weight",
        "threshold above total",
        "zero threshold",
        "negative threshold",
        "no signers",
        "33 signers",
        "short key",
        "long key",
    ],
)
def test_validate_policy_rejects(policy: Policy, pattern: str) -> None:
    with pytest.raises(InvalidPolicy, match=pattern):
        validate_policy(policy)


def test_make_policy_validates() -> None:
    with pytest.raises(InvalidPolicy, match="threshold"):
        make_policy([Signer(A, 1)], 2)
    with pytest.raises(InvalidPolicy, match="unique"):
        make_policy([Signer(A, 1), Signer(A, 1)], 1)


# --- value form ---------------------------------------------------------------------------------

POLICIES = [
    make_policy([Signer(A, 1)], 1),
    make_policy([Signer(A, 1, required=True), Signer(B, 1), Signer(C, 1)], 2),
    make_policy([Signer(k, MAX_WEIGHT, k == KEYS[5]) for k in KEYS[:MAX_SIGNERS]], MAX_WEIGHT),
]


@pytest.mark.parametrize("policy", POLICIES)
def test_value_round_trip(policy: Policy) -> None:
    assert policy_from_value(policy_to_value(policy)) == policy
    # and through canonical bytes
    assert policy_from_value(decode(encode(policy_to_value(policy)))) == policy


def test_json_view() -> None:
    policy = POLICIES[1]
    view = policy_to_json(policy)
    assert view["threshold"] == 2
    assert view["signers"][0] == {"public_key": A.hex(), "weight": 1, "required": True}


def good_value() -> dict[str, Any]:
    return {"signers": [[A, 1, False], [B, 1, True]], "threshold": 2}


def with_signer(entry: Any) -> dict[str, Any]:
    return {"signers": [entry], "threshold": 1}


@pytest.mark.parametrize(
    ("value", "error", "pattern"),
    [
        (None, EncodingError, "policy must be a map"),
        ([], EncodingError, "policy must be a map"),
        ({"signers": []}, EncodingError, "fields"),
        ({**good_value(), "extra": 1}, EncodingError, "fields"),
        ({"signers": {}, "threshold": 1}, EncodingError, "signers must be a list"),
        ({"signers": [[A, 1, False]] * 33, "threshold": 1}, EncodingError, "at most 32"),
        (with_signer(A), EncodingError, "signer 0 must be a list"),
        (with_signer([A, 1]), EncodingError, "signer 0"),
        (with_signer([A, 1, False, 0]), EncodingError, "signer 0"),
        (with_signer([A[:31], 1, False]), EncodingError, "signer 0 public key"),
        (with_signer([A.hex(), 1, False]), EncodingError, "signer 0 public key"),
        (with_signer([A, 0, False]), EncodingError, "signer 0 weight"),
        (with_signer([A, MAX_WEIGHT + 1, False]), EncodingError, "signer 0 weight"),
        (with_signer([A, "1", False]), EncodingError, "signer 0 weight"),
        (with_signer([A, True, False]), EncodingError, "signer 0 weight"),
        (with_signer([A, 1, 0]), EncodingError, "signer 0 required"),
        ({"signers": [[A, 1, False]], "threshold": 0}, EncodingError, "threshold"),
        ({"signers": [[A, 1, False]], "threshold": "1"}, EncodingError, "threshold"),
        ({"signers": [[A, 1, False]], "threshold": 2}, InvalidPolicy, "threshold 2"),
        ({"signers": [], "threshold": 1}, InvalidPolicy, "signers"),
        ({"signers": [[B, 1, False], [A, 1, False]], "threshold": 1}, InvalidPolicy, "sorted"),
        ({"signers": [[A, 1, False], [A, 1, False]], "threshold": 1}, InvalidPolicy, "unique"),
    ],
)
def test_malformed_values_raise_named_errors(value: Any, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        policy_from_value(value)


@pytest.mark.parametrize(
    "value",
    [
        {"signers": [[A, 1, False]], "threshold": 1, 7: 1},
        {b"signers": [[A, 1, False]], "threshold": 1},
    ],
    ids=["int key", "bytes key"],
)
def test_non_text_keys_raise_encoding_error_not_type_error(value: Any) -> None:
    with pytest.raises(EncodingError):
        policy_from_value(value)


# --- policy changes -----------------------------------------------------------------------------


def changed(old: Policy, new: Policy, signers: list[bytes]) -> bool:
    try:
        require_change_satisfied(old, new, signers)
    except PolicyNotSatisfied:
        return False
    return True


def test_change_needs_old_and_new_policy_each_by_its_own_signers() -> None:
    old = make_policy([Signer(k, 1) for k in (A, B, C)], 2)
    # Rotate C out and D in; D must consent.
    new = make_policy([Signer(A, 1), Signer(B, 1), Signer(D, 1, required=True)], 2)
    assert changed(old, new, [A, B, D])
    assert changed(old, new, [B, C, D])  # C counts for the old policy only
    assert not changed(old, new, [A, B])  # D did not consent
    assert not changed(old, new, [A, D])  # old policy has weight 1 of 2
    assert not changed(old, new, [C, D])  # old: C alone; new: D alone
    with pytest.raises(PolicyNotSatisfied, match="not a signer"):
        require_change_satisfied(old, new, [A, B, D, OUTSIDER])


def test_change_to_the_same_policy_is_the_plain_rule() -> None:
    policy = make_policy([Signer(A, 1, required=True), Signer(B, 1), Signer(C, 1)], 2)
    for signers in ([A], [B, C], [A, B], [A, C], [A, B, C]):
        assert changed(policy, policy, signers) == satisfied(policy, signers)
