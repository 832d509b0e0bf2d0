"""The contract language's library as plain Python, so a contract is also an ordinary module.

A contract imports its builtins with `from gridchain_contract import Map, public, caller, ...`
(or `from vm.lang import ...`; the compiler accepts both and ignores the import). Here every
builtin has a plain-Python body, so a contract file can be run, unit-tested, linted and
type-checked (mypy) like any module:

    import vm.lang
    vm.lang.install()                      # `gridchain_contract` now resolves to this module
    vm.lang.set_context(vm.lang.Context(caller=alice, height=5))
    import my_contract                     # module-level Maps start empty
    my_contract.bump(3)

What a Python run does not model: gas, the VM's 256-bit int bound and byte-size limits (a
fault on chain), and len() of a str, which counts UTF-8 bytes on chain (Python counts
characters; the two agree on ASCII; slices count characters in both). Run the compiled code
on the VM for those.
"""

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Generic, NoReturn, TypeVar

from chain.address import RAW_SIZE
from chain.address import key_address as _key_address
from chain.deployment.spec import spec_error as _spec_error
from chain.errors import RuleViolation
from chain.hashing import hash32 as _hash32
from chain.keys import PUBLIC_KEY_SIZE, verify_signature

__all__ = [
    "Context",
    "Faulted",
    "Final",
    "Map",
    "Reverted",
    "balance",
    "bytes_of",
    "caller",
    "context",
    "deploy",
    "ed25519_verify",
    "emit",
    "fund",
    "hash32",
    "height",
    "install",
    "int_from_bytes",
    "int_to_bytes",
    "key_address",
    "now",
    "param",
    "public",
    "revert",
    "self_address",
    "set_context",
    "signer",
    "signer_count",
    "spec_error",
    "text_of",
    "transfer",
    "undeploy",
    "value",
]

K = TypeVar("K", int, bool, bytes, str)
V = TypeVar("V", int, bool, bytes, str)
F = TypeVar("F", bound=Callable[..., object])

_ZERO: dict[type, int | bool | bytes | str] = {int: 0, bool: False, bytes: b"", str: ""}


class Reverted(RuleViolation):
    """revert(message) or a failed assert message, as a Python exception."""

    code = "reverted"


class Faulted(RuleViolation):
    """Where the VM would fault: a bad argument to a builtin, an unaffordable transfer."""

    code = "fault"


@dataclass
class Context:
    """The chain as one call sees it, for running a contract as Python; mutable, as calls are."""

    caller: bytes = bytes([1]) + b"\x11" * 32
    signers: tuple[bytes, ...] = ()
    height: int = 1
    time_ms: int = 0
    self_address: bytes = bytes([2]) + b"\x22" * 32
    value: int = 0
    balances: dict[bytes, int] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    events: list[tuple[str, bytes]] = field(default_factory=list)
    deployments: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # wid -> version, spec
    escrows: dict[int, int] = field(default_factory=dict)


_context = Context()


def set_context(context: Context) -> None:
    """Set what caller(), height(), balance() and the rest see from now on."""
    global _context
    _context = context


def context() -> Context:
    return _context


def install() -> None:
    """Make `from gridchain_contract import ...` resolve to this module."""
    sys.modules.setdefault("gridchain_contract", sys.modules[__name__])


class Map(Generic[K, V]):
    """A storage map declared at module level: `balances = Map(bytes, int)`.

    A missing key reads as the value type's zero (0, False, b"", ""), as on chain.
    """

    def __init__(self, key_type: type[K], value_type: type[V]) -> None:
        self.key_type: type[K] = key_type
        self.value_type: type[V] = value_type
        self._items: dict[K, V] = {}

    def __getitem__(self, key: K) -> V:
        zero: V = _ZERO[self.value_type]  # type: ignore[assignment]
        return self._items.get(key, zero)

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = value

    def __delitem__(self, key: K) -> None:
        self._items.pop(key, None)

    def __contains__(self, key: K) -> bool:
        return key in self._items

    def get(self, key: K, default: V) -> V:
        return self._items.get(key, default)


def public(function: F) -> F:
    """Marks a function callable from transactions; others are internal to the contract."""
    return function


def revert(message: str) -> NoReturn:
    raise Reverted(message)


def emit(topic: str, data: bytes) -> None:
    _context.events.append((topic, data))


def caller() -> bytes:
    return _context.caller


def signer_count() -> int:
    return len(_context.signers)


def signer(i: int) -> bytes:
    if not 0 <= i < len(_context.signers):
        raise Faulted(f"signer {i} but the transaction has {len(_context.signers)} signers")
    return _context.signers[i]


def height() -> int:
    return _context.height


def now() -> int:
    """Block time in milliseconds (from the block header, not a clock)."""
    return _context.time_ms


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    return verify_signature(public_key, message, signature)


def hash32(data: bytes) -> bytes:
    return _hash32(data)


def self_address() -> bytes:
    return _context.self_address


def value() -> int:
    return _context.value


def balance(address: bytes) -> int:
    _check_address(address)
    return _context.balances.get(address, 0)


def transfer(address: bytes, amount: int) -> None:
    _check_address(address)
    if amount <= 0:
        raise Faulted(f"transfer amount {amount} must be positive")
    own = _context.balances.get(_context.self_address, 0)
    if own < amount:
        raise Faulted(f"contract balance {own} is below the transfer of {amount}")
    _context.balances[_context.self_address] = own - amount
    _context.balances[address] = _context.balances.get(address, 0) + amount


def key_address(public_key: bytes) -> bytes:
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise Faulted(f"a public key is {PUBLIC_KEY_SIZE} bytes, got {len(public_key)}")
    return _key_address(public_key).raw


def param(name: str) -> int:
    if name not in _context.params:
        raise Faulted(f"unknown chain parameter {name!r}")
    return _context.params[name]


def spec_error(spec: bytes) -> str:
    """Why the chain would not place `spec`, or "" (check it before asking for signatures)."""
    return _spec_error(spec)


def deploy(wid: int, version: int, spec: bytes, payer: bytes) -> None:
    """Ask the chain to place version `version` of this contract's workload `wid`; what is
    left of its escrow at the end goes back to `payer`."""
    _check_address(payer)
    if wid < 1 or version < 1:
        raise Faulted(f"deploy needs a workload id and version of at least 1, got {wid}, {version}")
    reason = _spec_error(spec)
    if reason:
        raise Faulted(reason)
    _context.deployments[wid] = (version, spec)


def undeploy(wid: int, reason: str) -> None:
    """End this contract's workload `wid`: the chain releases it and its nodes tear it down."""
    _context.deployments.pop(wid, None)


def fund(wid: int, amount: int) -> None:
    """Move `amount` of this contract's credits into the escrow of its workload `wid`."""
    if wid not in _context.deployments:
        raise Faulted(f"workload {wid} has no live deployment")
    if amount <= 0:
        raise Faulted(f"fund amount {amount} must be positive")
    own = _context.balances.get(_context.self_address, 0)
    if own < amount:
        raise Faulted(f"contract balance {own} is below the escrow of {amount}")
    _context.balances[_context.self_address] = own - amount
    _context.escrows[wid] = _context.escrows.get(wid, 0) + amount


def int_from_bytes(data: bytes) -> int:
    """Unsigned big-endian, at most 32 bytes."""
    if len(data) > 32:
        raise Faulted(f"int_from_bytes of {len(data)} bytes (at most 32)")
    return int.from_bytes(data, "big")


def int_to_bytes(number: int, width: int) -> bytes:
    """Unsigned big-endian in exactly `width` (1..32) bytes."""
    if not 1 <= width <= 32:
        raise Faulted(f"int_to_bytes width {width} is outside 1..32")
    if not 0 <= number < 256**width:
        raise Faulted(f"int_to_bytes of {number} does not fit in {width} bytes")
    return number.to_bytes(width, "big")


def bytes_of(text: str) -> bytes:
    """UTF-8 bytes of `text`."""
    return text.encode()


def text_of(data: bytes) -> str:
    """`data` decoded as UTF-8; invalid UTF-8 faults."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise Faulted("text_of of bytes that are not UTF-8") from None


def _check_address(address: bytes) -> None:
    if len(address) != RAW_SIZE:
        raise Faulted(f"an address is {RAW_SIZE} bytes, got {len(address)}")
