"""World state: accounts and chain-wide records kept as key/value pairs under a Merkle root.

Every record lives under a 32-byte key (a domain-separated hash) with canonical bytes as value;
the sparse Merkle tree commits to hash(value) under that key. `Overlay` is the working set of one
block: reads fall through to the committed state, writes stay in memory until the block commits.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from chain.address import Address
from chain.encoding import decode, decode_stored, encode, expect_int, expect_list, expect_map
from chain.hashing import hash32, tagged_hash
from chain.params import ChainParams, params_from_value, params_to_value
from chain.policy import Policy, policy_from_value, policy_to_json, policy_to_value
from chain.validators import ValidatorSet, validator_set_from_value, validator_set_to_value

MAX_BALANCE = 2**63 - 1


@dataclass(frozen=True)
class Account:
    balance: int = 0
    nonce: int = 0
    policy: Policy | None = None


def account_key(address: Address) -> bytes:
    return tagged_hash(b"gc/state/acct", address.raw)


VALIDATORS_KEY = tagged_hash(b"gc/state/valset", b"")
PARAMS_KEY = tagged_hash(b"gc/state/params", b"")


def encode_account(account: Account) -> bytes:
    policy = [] if account.policy is None else [policy_to_value(account.policy)]
    return encode({"balance": account.balance, "nonce": account.nonce, "policy": policy})


def decode_account(data: bytes) -> Account:
    f = expect_map(decode_stored(data), "account", ("balance", "nonce", "policy"))
    policies = expect_list(f["policy"], "account policy", 1)
    return Account(
        balance=expect_int(f["balance"], "balance", 0, MAX_BALANCE),
        nonce=expect_int(f["nonce"], "nonce", 0, 2**63 - 1),
        policy=policy_from_value(policies[0]) if policies else None,
    )


def account_to_json(address: Address, account: Account) -> dict[str, Any]:
    return {
        "address": str(address),
        "balance": account.balance,
        "nonce": account.nonce,
        "policy": None if account.policy is None else policy_to_json(account.policy),
    }


class StateReader(Protocol):
    def get_state(self, key: bytes) -> bytes | None: ...


class Overlay:
    """Uncommitted changes over a committed state; decoded accounts are cached."""

    def __init__(self, base: StateReader) -> None:
        self.base = base
        self.accounts: dict[Address, Account] = {}
        self.records: dict[bytes, bytes] = {}

    def get_state(self, key: bytes) -> bytes | None:
        if key in self.records:
            return self.records[key]
        return self.base.get_state(key)

    def set_state(self, key: bytes, value: bytes) -> None:
        self.records[key] = value

    def account(self, address: Address) -> Account | None:
        cached = self.accounts.get(address)
        if cached is not None:
            return cached
        raw = self.base.get_state(account_key(address))
        if raw is None:
            return None
        account = decode_account(raw)
        self.accounts[address] = account
        return account

    def set_account(self, address: Address, account: Account) -> None:
        self.accounts[address] = account

    def writes(self) -> dict[bytes, bytes]:
        """Every changed record as key -> canonical bytes (order-free: the tree sorts)."""
        out = dict(self.records)
        for address, account in self.accounts.items():
            out[account_key(address)] = encode_account(account)
        return out

    def validator_set(self) -> ValidatorSet:
        raw = self.get_state(VALIDATORS_KEY)
        if raw is None:
            raise LookupError("state has no validator set")
        return validator_set_from_value(decode(raw))

    def params(self) -> ChainParams:
        raw = self.get_state(PARAMS_KEY)
        if raw is None:
            raise LookupError("state has no chain parameters")
        return params_from_value(decode(raw))


def validator_set_record(vset: ValidatorSet) -> bytes:
    return encode(validator_set_to_value(vset))


def params_record(params: ChainParams) -> bytes:
    return encode(params_to_value(params))


def read_account(reader: StateReader, address: Address) -> Account | None:
    raw = reader.get_state(account_key(address))
    return None if raw is None else decode_account(raw)


def changed_hashes(writes: Mapping[bytes, bytes]) -> dict[bytes, bytes | None]:
    """State writes as the tree sees them: key -> hash of the value."""
    return {key: hash32(value) for key, value in writes.items()}
