"""Signature requirements and signing hashes of the workload contract, on the client side.

The byte layouts here are the ones contracts_std/workload.py parses; tests check the two agree.
"""

from dataclasses import dataclass

from chain.address import Address, named_contract_address
from chain.errors import RuleViolation
from chain.hashing import hash32

DOMAIN = b"gridchain/workload/v1"
MAX_SIGNERS = 16
MAX_WEIGHT = 2**32 - 1
WORKLOAD_CONTRACT = "workload"


class InvalidRequirement(RuleViolation):
    code = "invalid_requirement"


@dataclass(frozen=True)
class RequiredSigner:
    public_key: bytes
    weight: int = 1
    required: bool = False


@dataclass(frozen=True)
class Requirement:
    signers: tuple[RequiredSigner, ...]
    threshold: int


def make_requirement(signers: list[RequiredSigner], threshold: int) -> Requirement:
    """Check a requirement the way the contract will, so a bad one fails before it is sent."""
    if not 1 <= len(signers) <= MAX_SIGNERS:
        raise InvalidRequirement(f"a requirement has 1 to {MAX_SIGNERS} signers")
    keys = [s.public_key for s in signers]
    if len(set(keys)) != len(keys):
        raise InvalidRequirement("a signer appears twice")
    for s in signers:
        if len(s.public_key) != 32:
            raise InvalidRequirement(f"signer key {s.public_key.hex()} is not 32 bytes")
        if not 1 <= s.weight <= MAX_WEIGHT:
            raise InvalidRequirement(f"weight {s.weight} is outside 1..{MAX_WEIGHT}")
    total = sum(s.weight for s in signers)
    if not 1 <= threshold <= min(total, MAX_WEIGHT):
        raise InvalidRequirement(f"threshold {threshold} is outside 1..{total} (the total weight)")
    return Requirement(tuple(sorted(signers, key=lambda s: s.public_key)), threshold)


def encode_requirement(requirement: Requirement) -> bytes:
    """4-byte threshold, then per signer (sorted by key): key, 4-byte weight, required flag."""
    out = requirement.threshold.to_bytes(4, "big")
    for s in requirement.signers:
        out += s.public_key + s.weight.to_bytes(4, "big") + bytes([1 if s.required else 0])
    return out


def decode_requirement(data: bytes) -> Requirement:
    if len(data) < 4 or (len(data) - 4) % 37:
        raise InvalidRequirement("requirement bytes have the wrong length")
    signers = [
        RequiredSigner(
            data[at : at + 32], int.from_bytes(data[at + 32 : at + 36]), bool(data[at + 36])
        )
        for at in range(4, len(data), 37)
    ]
    return make_requirement(signers, int.from_bytes(data[:4]))


def workload_address() -> Address:
    return named_contract_address(WORKLOAD_CONTRACT)


def signing_hash(
    contract: Address, wid: int, version: int, spec: bytes, requirement: bytes
) -> bytes:
    """What each signer of workload `wid` signs for `version` (see contracts_std/workload.py)."""
    return hash32(
        DOMAIN
        + contract.raw
        + wid.to_bytes(8, "big")
        + version.to_bytes(8, "big")
        + hash32(spec)
        + hash32(requirement)
    )


def is_met(requirement: Requirement, signed: set[bytes]) -> bool:
    """The rule itself, for clients and tests: every required signer signed, weight reached."""
    by_key = {s.public_key: s for s in requirement.signers}
    if any(s.required and s.public_key not in signed for s in requirement.signers):
        return False
    return sum(by_key[k].weight for k in signed if k in by_key) >= requirement.threshold
