"""Multisig policies: weighted signers, optional required signers and a weight threshold.

The rule (the one Zero-OS intended): a set of signatures satisfies a policy when every signer is
listed in it, every required signer is present, and the summed weight reaches the threshold.
Optional signers may stay silent. A change of policy must satisfy both the old and the new one, so
neither the current signers nor the incoming ones can be bypassed.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from chain.encoding import (
    expect_bool,
    expect_bytes,
    expect_int,
    expect_list,
    expect_map,
)
from chain.errors import EncodingError, InvalidPolicy, PolicyNotSatisfied
from chain.keys import PUBLIC_KEY_SIZE

MAX_SIGNERS = 32
MAX_WEIGHT = 2**32


@dataclass(frozen=True)
class Signer:
    public_key: bytes
    weight: int
    required: bool = False


@dataclass(frozen=True)
class Policy:
    """Signers sorted by public key (one canonical form per policy) and a threshold."""

    signers: tuple[Signer, ...]
    threshold: int


def validate_policy(policy: Policy) -> None:
    signers = policy.signers
    if not 1 <= len(signers) <= MAX_SIGNERS:
        raise InvalidPolicy(f"a policy has 1 to {MAX_SIGNERS} signers, got {len(signers)}")
    for signer in signers:
        if len(signer.public_key) != PUBLIC_KEY_SIZE:
            raise InvalidPolicy(f"signer key {signer.public_key.hex()} is not 32 bytes")
        if not 1 <= signer.weight <= MAX_WEIGHT:
            raise InvalidPolicy(f"signer weight {signer.weight} is not in 1..{MAX_WEIGHT}")
    keys = [s.public_key for s in signers]
    if keys != sorted(set(keys)):
        raise InvalidPolicy("signers must be unique and sorted by public key")
    total = sum(s.weight for s in signers)
    if not 1 <= policy.threshold <= total:
        raise InvalidPolicy(
            f"threshold {policy.threshold} must be between 1 and the total weight {total}"
        )


def make_policy(signers: Iterable[Signer], threshold: int) -> Policy:
    """Build a policy in canonical order and validate it."""
    policy = Policy(tuple(sorted(signers, key=lambda s: s.public_key)), threshold)
    validate_policy(policy)
    return policy


def require_signers_known(signed_by: Iterable[bytes], *policies: Policy) -> None:
    """A signature from a key that no policy in play lists is refused, never ignored."""
    known = {s.public_key for policy in policies for s in policy.signers}
    for key in signed_by:
        if key not in known:
            raise PolicyNotSatisfied(f"{key.hex()} is not a signer of this policy")


def require_satisfied(policy: Policy, signed_by: Iterable[bytes]) -> None:
    """Raise PolicyNotSatisfied unless the (already verified) signers satisfy `policy`."""
    signed_by = list(signed_by)
    require_signers_known(signed_by, policy)
    _require_weight(policy, signed_by)


def require_change_satisfied(old: Policy, new: Policy, signed_by: Iterable[bytes]) -> None:
    """A policy change needs both policies satisfied, each by its own signers among those
    who signed; a key in neither policy is refused."""
    signed_by = list(signed_by)
    require_signers_known(signed_by, old, new)
    _require_weight(old, signed_by)
    _require_weight(new, signed_by)


def _require_weight(policy: Policy, signed_by: list[bytes]) -> None:
    by_key = {s.public_key: s for s in policy.signers}
    present = [key for key in signed_by if key in by_key]
    missing = [
        s.public_key.hex() for s in policy.signers if s.required and s.public_key not in present
    ]
    if missing:
        raise PolicyNotSatisfied(f"required signer(s) did not sign: {', '.join(missing)}")
    weight = sum(by_key[key].weight for key in set(present))
    if weight < policy.threshold:
        raise PolicyNotSatisfied(
            f"signed weight {weight} is below the threshold {policy.threshold}"
        )


def policy_to_value(policy: Policy) -> dict[str, Any]:
    return {
        "signers": [[s.public_key, s.weight, s.required] for s in policy.signers],
        "threshold": policy.threshold,
    }


def policy_from_value(value: Any) -> Policy:
    """Decode and validate; malformed fields raise EncodingError, bad policies InvalidPolicy."""
    fields = expect_map(value, "policy", ("signers", "threshold"))
    signers = []
    for i, item in enumerate(expect_list(fields["signers"], "policy signers", MAX_SIGNERS)):
        entry = expect_list(item, f"signer {i}", 3)
        if len(entry) != 3:
            raise EncodingError(f"signer {i} must be [public_key, weight, required]")
        signers.append(
            Signer(
                expect_bytes(entry[0], f"signer {i} public key", PUBLIC_KEY_SIZE),
                expect_int(entry[1], f"signer {i} weight", 1, MAX_WEIGHT),
                expect_bool(entry[2], f"signer {i} required"),
            )
        )
    policy = Policy(tuple(signers), expect_int(fields["threshold"], "threshold", 1))
    validate_policy(policy)
    return policy


def policy_to_json(policy: Policy) -> dict[str, Any]:
    return {
        "signers": [
            {"public_key": s.public_key.hex(), "weight": s.weight, "required": s.required}
            for s in policy.signers
        ],
        "threshold": policy.threshold,
    }
