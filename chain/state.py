"""World state: accounts and chain-wide records kept as key/value pairs under a Merkle root.

Every record lives under a 32-byte key (a domain-separated hash) with canonical bytes as value;
the sparse Merkle tree commits to hash(value) under that key. `Overlay` is the working set of one
block: reads fall through to the committed state, writes stay in memory until the block commits.

Validator records (the rules that change them are in chain/staking/slashing.py):

- VALIDATORS_KEY: the active set, which votes on the next block;
- LAST_VALIDATORS_KEY: the set that voted on the last block (it signed the commit the next
  block carries); it differs from the active set right after a jailing or an unjailing;
- JAILED_KEY: the jail book, validators taken out of the active set, sorted by key;
- signing_info_key(public_key): one validator's recent votes, for the downtime rule.
"""

import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import Any, Protocol

from chain.address import Address
from chain.bls import PUBLIC_KEY_SIZE as BLS_PUBLIC_KEY_SIZE
from chain.bls import SIGNATURE_SIZE as BLS_SIGNATURE_SIZE
from chain.encoding import (
    decode,
    decode_stored,
    encode,
    expect_bool,
    expect_bytes,
    expect_int,
    expect_list,
    expect_map,
    expect_text,
    stored_record,
)
from chain.errors import BalanceOverflow, CorruptRecord, EncodingError, InsufficientBalance
from chain.hashing import hash32, tagged_hash
from chain.keys import PUBLIC_KEY_SIZE
from chain.ledger.audit import AuditEntry
from chain.ledger.policy import Policy, policy_from_value, policy_to_json, policy_to_value
from chain.params import ChainParams, params_from_value, params_to_value
from chain.staking.validators import (
    MAX_BLOCKSTAKE,
    MAX_VALIDATORS,
    ValidatorSet,
    decode_validator_set,
    encode_validator_set,
)

MAX_BALANCE = 2**63 - 1
MAX_HEIGHT = 2**63 - 1
JAILED_FOREVER = MAX_HEIGHT  # jailed_until of a tombstoned validator


@dataclass(frozen=True)
class Account:
    balance: int = 0
    nonce: int = 0
    policy: Policy | None = None


def account_key(address: Address) -> bytes:
    return tagged_hash(b"gc/state/acct", address.raw)


VALIDATORS_KEY = tagged_hash(b"gc/state/valset", b"")
LAST_VALIDATORS_KEY = tagged_hash(b"gc/state/lastval", b"")
JAILED_KEY = tagged_hash(b"gc/state/jailed", b"")
PARAMS_KEY = tagged_hash(b"gc/state/params", b"")


def signing_info_key(public_key: bytes) -> bytes:
    return tagged_hash(b"gc/state/signing", public_key)


def encode_account(account: Account) -> bytes:
    policy = [] if account.policy is None else [policy_to_value(account.policy)]
    return encode({"balance": account.balance, "nonce": account.nonce, "policy": policy})


@stored_record("account")
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
        self.records: dict[bytes, bytes | None] = {}  # None: deleted
        self.audit: list[AuditEntry] = []  # audit log entries this block appends

    def get_state(self, key: bytes) -> bytes | None:
        if key in self.records:
            return self.records[key]
        return self.base.get_state(key)

    def set_state(self, key: bytes, value: bytes) -> None:
        self.records[key] = value

    def delete_state(self, key: bytes) -> None:
        self.records[key] = None

    def child(self) -> "Overlay":
        """A working set over this one: merged into it if every rule passed, else dropped.
        The one way a transaction (and a contract call inside it) is made atomic."""
        return Overlay(self)

    def merge_into_parent(self) -> None:
        parent = self.base
        if not isinstance(parent, Overlay):
            raise TypeError("only a child overlay merges into its parent")
        parent.records.update(self.records)
        parent.accounts.update(self.accounts)
        parent.audit.extend(self.audit)

    def account(self, address: Address) -> Account | None:
        cached = self.accounts.get(address)
        if cached is not None:
            return cached
        if isinstance(self.base, Overlay):
            return self.base.account(address)
        raw = self.base.get_state(account_key(address))
        if raw is None:
            return None
        account = decode_account(raw)
        self.accounts[address] = account
        return account

    def set_account(self, address: Address, account: Account) -> None:
        self.accounts[address] = account

    def writes(self) -> dict[bytes, bytes | None]:
        """Every changed record as key -> canonical bytes, None if deleted (order-free: the
        tree sorts)."""
        out = dict(self.records)
        for address, account in self.accounts.items():
            out[account_key(address)] = encode_account(account)
        return out

    @stored_record("validator set")
    def validator_set(self) -> ValidatorSet:
        """The active set: the validators that vote on the next block."""
        raw = self.get_state(VALIDATORS_KEY)
        if raw is None:
            raise CorruptRecord("state has no validator set")
        return decode_validator_set(raw)

    @stored_record("last validator set")
    def last_validator_set(self) -> ValidatorSet:
        """The set that voted on the last block, i.e. signed the commit the next block carries."""
        raw = self.get_state(LAST_VALIDATORS_KEY)
        if raw is None:
            raise CorruptRecord("state has no last validator set")
        return decode_validator_set(raw)

    def set_validator_set(self, vset: ValidatorSet) -> None:
        self.set_state(VALIDATORS_KEY, encode_validator_set(vset))

    @stored_record("chain parameters")
    def params(self) -> ChainParams:
        raw = self.get_state(PARAMS_KEY)
        if raw is None:
            raise CorruptRecord("state has no chain parameters")
        return decode_params(raw)


def params_record(params: ChainParams) -> bytes:
    return encode(params_to_value(params))


@functools.lru_cache(maxsize=4)
def decode_params(raw: bytes) -> ChainParams:
    """Cached by the bytes, like decode_validator_set: every block reads the parameters several
    times, they change only by governance, and ChainParams is immutable."""
    return params_from_value(decode(raw))


# Jail book


@dataclass(frozen=True)
class JailedValidator:
    """A validator out of the active set, with what it takes back if it is unjailed.

    A tombstoned validator (a double signer) is jailed for ever (jailed_until = JAILED_FOREVER).
    The one exception to "out of the active set": a tombstoned validator that was the last
    active one stays active (the chain needs a validator) and keeps its entry here.
    """

    public_key: bytes
    bls_key: bytes
    bls_pop: bytes
    blockstake: int
    name: str
    jailed_until: int
    tombstoned: bool


def jailed_to_value(jailed: tuple[JailedValidator, ...]) -> list[Any]:
    return [
        [j.public_key, j.bls_key, j.bls_pop, j.blockstake, j.name, j.jailed_until, j.tombstoned]
        for j in sorted(jailed, key=lambda j: j.public_key)
    ]


def jailed_from_value(value: Any) -> tuple[JailedValidator, ...]:
    entries = []
    for i, item in enumerate(expect_list(value, "jailed validators", MAX_VALIDATORS)):
        entry = expect_list(item, f"jailed validator {i}", 7)
        if len(entry) != 7:
            raise EncodingError(
                f"jailed validator {i} must be [public_key, bls_key, bls_pop, blockstake, name, "
                "jailed_until, tombstoned]"
            )
        what = f"jailed validator {i}"
        entries.append(
            JailedValidator(
                public_key=expect_bytes(entry[0], f"{what} key", PUBLIC_KEY_SIZE),
                bls_key=expect_bytes(entry[1], f"{what} BLS key", BLS_PUBLIC_KEY_SIZE),
                bls_pop=expect_bytes(entry[2], f"{what} BLS proof", BLS_SIGNATURE_SIZE),
                blockstake=expect_int(entry[3], f"{what} blockstake", 1, MAX_BLOCKSTAKE),
                name=expect_text(entry[4], f"{what} name", 64),
                jailed_until=expect_int(entry[5], f"{what} jailed_until", 0, MAX_HEIGHT),
                tombstoned=expect_bool(entry[6], f"{what} tombstoned"),
            )
        )
    keys = [j.public_key for j in entries]
    if keys != sorted(set(keys)):
        raise EncodingError("jailed validators must be unique and sorted by public key")
    return tuple(entries)


def jailed_record(jailed: tuple[JailedValidator, ...]) -> bytes:
    return encode(jailed_to_value(jailed))


@stored_record("jail book")
def jailed_validators(reader: StateReader) -> tuple[JailedValidator, ...]:
    """The jail book, sorted by public key (empty if the state has none)."""
    raw = reader.get_state(JAILED_KEY)
    return () if raw is None else jailed_from_value(decode_stored(raw))


def jailed_to_json(jailed: JailedValidator) -> dict[str, Any]:
    return {
        "public_key": jailed.public_key.hex(),
        "bls_key": jailed.bls_key.hex(),
        "bls_pop": jailed.bls_pop.hex(),
        "blockstake": jailed.blockstake,
        "name": jailed.name,
        "jailed_until": None if jailed.tombstoned else jailed.jailed_until,
        "tombstoned": jailed.tombstoned,
    }


# Signing info (downtime)


@dataclass(frozen=True)
class SigningInfo:
    """Which recent heights a validator failed to sign.

    Heights from `start_height` on are tracked; `missed` holds, in increasing order, the tracked
    heights within the downtime window (the last `downtime_window` recorded heights) whose commit
    lacked this validator's signature. Every other tracked height in the window was signed.
    """

    start_height: int
    missed: tuple[int, ...] = ()


def signing_info_to_value(info: SigningInfo) -> dict[str, Any]:
    return {"start_height": info.start_height, "missed": list(info.missed)}


def signing_info_from_value(value: Any) -> SigningInfo:
    f = expect_map(value, "signing info", ("start_height", "missed"))
    start = expect_int(f["start_height"], "start_height", 1, MAX_HEIGHT)
    missed = tuple(
        expect_int(h, "missed height", start, MAX_HEIGHT)
        for h in expect_list(f["missed"], "missed heights", 1 << 16)
    )
    if any(a >= b for a, b in pairwise(missed)):
        raise EncodingError("missed heights must be strictly increasing")
    return SigningInfo(start, missed)


def signing_info_record(info: SigningInfo) -> bytes:
    return encode(signing_info_to_value(info))


@stored_record("signing info")
def signing_info(reader: StateReader, public_key: bytes) -> SigningInfo | None:
    raw = reader.get_state(signing_info_key(public_key))
    return None if raw is None else signing_info_from_value(decode_stored(raw))


def signing_info_to_json(info: SigningInfo) -> dict[str, Any]:
    return {"start_height": info.start_height, "missed": list(info.missed)}


def read_account(reader: StateReader, address: Address) -> Account | None:
    raw = reader.get_state(account_key(address))
    return None if raw is None else decode_account(raw)


def changed_hashes(writes: Mapping[bytes, bytes | None]) -> dict[bytes, bytes | None]:
    """State writes as the tree sees them: key -> hash of the value (None deletes)."""
    return {key: None if value is None else hash32(value) for key, value in writes.items()}


# The mutators: every change of a balance or a nonce goes through these three.


def increase_balance(state: Overlay, address: Address, amount: int) -> None:
    """Add `amount` credits to `address`, opening its account if it has none.

    The one overflow rule, for transactions and the chain's own payouts alike: a balance never
    exceeds MAX_BALANCE, and a credit that would take one over is refused (BalanceOverflow),
    never clamped, so no credit is ever destroyed in silence. Genesis caps the total supply at
    MAX_BALANCE and only epoch rewards add to it, so only centuries of rewards could reach it."""
    account = state.account(address) or Account()
    if account.balance + amount > MAX_BALANCE:
        raise BalanceOverflow(f"balance of {address} would exceed {MAX_BALANCE}")
    state.set_account(address, replace(account, balance=account.balance + amount))


def decrease_balance(state: Overlay, address: Address, amount: int) -> None:
    """Take `amount` credits from `address`; refused (InsufficientBalance) if it has fewer."""
    account = state.account(address) or Account()
    if account.balance < amount:
        raise InsufficientBalance(f"balance {account.balance} of {address} does not cover {amount}")
    state.set_account(address, replace(account, balance=account.balance - amount))


def bump_nonce(state: Overlay, address: Address) -> None:
    """Move the sender's nonce on by one: every applied transaction does, even a failed call."""
    account = state.account(address) or Account()
    state.set_account(address, replace(account, nonce=account.nonce + 1))
