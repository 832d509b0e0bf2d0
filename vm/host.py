"""What the VM needs from the chain (HostApi), and the VM's side of every host function.

The VM side checks the kinds and sizes of the arguments, charges the per-byte gas and only then
asks the host, so a HostApi implementation (vm/runtime.py on chain, MemoryHost in tests) sees
only well-formed requests. ED25519, HASH and KEY_ADDRESS need no state and run here.

Host gas: the host function's base gas (HOSTS[id].gas) is part of its basic block's gas. The
per-byte part is HOSTS[id].gas_per_byte times the bytes read or written, charged before the host
is asked: SLOAD and SHAS count the key, SSTORE the key and the value, SDEL the key, EMIT the
topic and the data, ED25519 the key, message and signature, HASH its input. SLOAD also charges
for the value it loaded, after loading it (nothing when the key is absent). The size of a value:
an int counts 32 bytes, a bool 1, bytes their length, a str its UTF-8 length.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NoReturn, Protocol, TypeVar

from chain.address import RAW_SIZE, key_address
from chain.deployment.spec import spec_error
from chain.hashing import hash32
from chain.keys import PUBLIC_KEY_SIZE, verify_signature
from chain.ledger.transactions import Value
from vm.errors import Fault, Halt, OutOfGas
from vm.isa import (
    HOSTS,
    INT_MAX,
    INT_MIN,
    MAX_BYTES,
    MAX_EVENT_TOPIC,
    MAX_STORAGE_KEY,
    Host,
)

INT_SIZE = 32
BOOL_SIZE = 1


class HostApi(Protocol):
    """The chain as one contract call sees it. Methods may raise Fault (for example a
    transfer the contract cannot afford); any other exception is a bug of the host."""

    @property
    def caller(self) -> bytes: ...
    @property
    def signers(self) -> tuple[bytes, ...]: ...
    @property
    def height(self) -> int: ...
    @property
    def time_ms(self) -> int: ...
    @property
    def self_address(self) -> bytes: ...
    @property
    def value(self) -> int: ...

    def sload(self, key: bytes) -> Value | None: ...
    def sstore(self, key: bytes, value: Value) -> None: ...
    def sdel(self, key: bytes) -> None: ...
    def emit(self, topic: str, data: bytes) -> None: ...
    def balance(self, address: bytes) -> int: ...
    def transfer(self, to: bytes, amount: int) -> None: ...
    def param(self, name: str) -> int: ...
    def deploy(self, wid: int, version: int, spec: bytes, payer: bytes) -> None: ...
    def undeploy(self, wid: int, reason: str) -> None: ...
    def fund(self, wid: int, amount: int) -> None: ...


@dataclass
class MemoryHost:
    """A HostApi over plain dicts, for VM tests and benchmarks."""

    caller: bytes = bytes([1]) + b"\x11" * 32
    signers: tuple[bytes, ...] = ()
    height: int = 1
    time_ms: int = 0
    self_address: bytes = bytes([2]) + b"\x22" * 32
    value: int = 0
    storage: dict[bytes, Value] = field(default_factory=dict)
    events: list[tuple[str, bytes]] = field(default_factory=list)
    balances: dict[bytes, int] = field(default_factory=dict)
    params: dict[str, int] = field(default_factory=dict)
    deployments: dict[int, tuple[int, bytes]] = field(default_factory=dict)  # wid -> version, spec
    escrows: dict[int, int] = field(default_factory=dict)

    def sload(self, key: bytes) -> Value | None:
        return self.storage.get(key)

    def sstore(self, key: bytes, value: Value) -> None:
        self.storage[key] = value

    def sdel(self, key: bytes) -> None:
        self.storage.pop(key, None)

    def emit(self, topic: str, data: bytes) -> None:
        self.events.append((topic, data))

    def balance(self, address: bytes) -> int:
        return self.balances.get(address, 0)

    def transfer(self, to: bytes, amount: int) -> None:
        own = self.balances.get(self.self_address, 0)
        if own < amount:
            raise Fault(f"contract balance {own} is below the transfer of {amount}")
        self.balances[self.self_address] = own - amount
        self.balances[to] = self.balances.get(to, 0) + amount

    def param(self, name: str) -> int:
        if name not in self.params:
            raise Fault(f"unknown chain parameter {name!r}")
        return self.params[name]

    def deploy(self, wid: int, version: int, spec: bytes, payer: bytes) -> None:
        self.deployments[wid] = (version, spec)

    def undeploy(self, wid: int, reason: str) -> None:
        self.deployments.pop(wid, None)

    def fund(self, wid: int, amount: int) -> None:
        if wid not in self.deployments:
            raise Fault(f"workload {wid} has no live deployment")
        self.transfer(bytes(RAW_SIZE), amount)  # out of the contract, as into an escrow
        self.escrows[wid] = self.escrows.get(wid, 0) + amount


# Values: kinds, sizes and gas, shared by the interpreter, the translator and host calls.

KIND_NAMES: dict[type, str] = {int: "int", bool: "bool", bytes: "bytes", str: "str"}


def kind_name(value: object) -> str:
    return KIND_NAMES.get(type(value), type(value).__name__)


def text_size(text: str) -> int:
    """UTF-8 length; isascii() is O(1) in CPython, so the common case encodes nothing."""
    return len(text) if text.isascii() else len(text.encode())


def value_size(value: Value) -> int:
    kind = type(value)
    if kind is int:
        return INT_SIZE
    if kind is bool:
        return BOOL_SIZE
    if kind is str:
        return text_size(value)  # type: ignore[arg-type]
    return len(value)  # type: ignore[arg-type]


def is_value(value: object) -> bool:
    """True iff `value` is something a VM stack may hold (kind, int range, size)."""
    if type(value) is int:
        return bool(INT_MIN <= value <= INT_MAX)
    if type(value) is bool:
        return True
    if type(value) is bytes:
        return len(value) <= MAX_BYTES
    if type(value) is str:
        try:
            return len(value.encode()) <= MAX_BYTES
        except UnicodeEncodeError:  # a lone surrogate: not text any chain encoding accepts
            return False
    return False


def charge(gas: int, amount: int) -> int:
    """Gas left after paying `amount`; out of gas if it does not fit."""
    if amount > gas:
        raise OutOfGas
    return gas - amount


def fault(where: str, message: str, gas: int | None = None) -> NoReturn:
    raise Fault(f"{where}: {message}", gas)


def need(where: str, name: str, needs: str, *values: object) -> NoReturn:
    """The one message for an operand of the wrong kind: what was needed, what was found."""
    got = ", ".join(kind_name(v) for v in values)
    fault(where, f"{name} needs {needs}, got {got}")


def _stamp(exc: Halt, gas: int) -> Halt:
    if exc.gas is None:
        exc.gas = gas
    return exc


# Host functions: each takes (host, gas, where, *operands in stack order) and returns
# (result or None, gas left).

HostResult = tuple[Value | None, int]
T = TypeVar("T")


def _key(where: str, name: str, key: object, *others: object) -> bytes:
    if type(key) is not bytes:
        need(where, name, "a bytes key", key, *others)
    if len(key) > MAX_STORAGE_KEY:
        fault(where, f"{name} key of {len(key)} bytes exceeds {MAX_STORAGE_KEY}")
    return key


def _per_byte(host_id: Host, size: int) -> int:
    return HOSTS[host_id].gas_per_byte * size


def _ask(gas: int, call: Callable[[], T]) -> T:
    """Ask the host; a Fault it raises leaves with the gas left at that point."""
    try:
        return call()
    except Halt as exc:
        raise _stamp(exc, gas) from None


def h_sload(host: HostApi, gas: int, where: str, key: object, default: Value) -> HostResult:
    key = _key(where, "SLOAD", key, default)
    gas = charge(gas, _per_byte(Host.SLOAD, len(key)))
    value = _ask(gas, lambda: host.sload(key))
    if value is None:
        return default, gas
    if not is_value(value):
        fault(where, "SLOAD found a stored value the VM cannot hold", gas)
    return value, charge(gas, _per_byte(Host.SLOAD, value_size(value)))


def h_shas(host: HostApi, gas: int, where: str, key: object) -> HostResult:
    key = _key(where, "SHAS", key)
    gas = charge(gas, _per_byte(Host.SHAS, len(key)))
    return _ask(gas, lambda: host.sload(key)) is not None, gas


def h_sstore(host: HostApi, gas: int, where: str, key: object, value: Value) -> HostResult:
    key = _key(where, "SSTORE", key, value)
    gas = charge(gas, _per_byte(Host.SSTORE, len(key) + value_size(value)))
    _ask(gas, lambda: host.sstore(key, value))
    return None, gas


def h_sdel(host: HostApi, gas: int, where: str, key: object) -> HostResult:
    key = _key(where, "SDEL", key)
    gas = charge(gas, _per_byte(Host.SDEL, len(key)))
    _ask(gas, lambda: host.sdel(key))
    return None, gas


def h_emit(host: HostApi, gas: int, where: str, topic: object, data: object) -> HostResult:
    if type(topic) is not str or type(data) is not bytes:
        need(where, "EMIT", "a str topic and bytes", topic, data)
    size = text_size(topic)
    if size > MAX_EVENT_TOPIC:
        fault(where, f"EMIT topic of {size} bytes exceeds {MAX_EVENT_TOPIC}")
    gas = charge(gas, _per_byte(Host.EMIT, size + len(data)))
    _ask(gas, lambda: host.emit(topic, data))
    return None, gas


def h_caller(host: HostApi, gas: int, where: str) -> HostResult:
    return host.caller, gas


def h_signer_count(host: HostApi, gas: int, where: str) -> HostResult:
    return len(host.signers), gas


def h_signer(host: HostApi, gas: int, where: str, i: object) -> HostResult:
    if type(i) is not int:
        need(where, "SIGNER", "an int", i)
    signers = host.signers
    if not 0 <= i < len(signers):
        fault(where, f"SIGNER {i} but the transaction has {len(signers)} signers")
    return signers[i], gas


def h_height(host: HostApi, gas: int, where: str) -> HostResult:
    return host.height, gas


def h_time(host: HostApi, gas: int, where: str) -> HostResult:
    return host.time_ms, gas


def h_ed25519(
    host: HostApi, gas: int, where: str, key: object, message: object, sig: object
) -> HostResult:
    if type(key) is not bytes or type(message) is not bytes or type(sig) is not bytes:
        need(where, "ED25519", "bytes key, message and signature", key, message, sig)
    gas = charge(gas, _per_byte(Host.ED25519, len(key) + len(message) + len(sig)))
    return verify_signature(key, message, sig), gas


def h_hash(host: HostApi, gas: int, where: str, data: object) -> HostResult:
    if type(data) is not bytes:
        need(where, "HASH", "bytes", data)
    gas = charge(gas, _per_byte(Host.HASH, len(data)))
    return hash32(data), gas


def h_self(host: HostApi, gas: int, where: str) -> HostResult:
    return host.self_address, gas


def h_value(host: HostApi, gas: int, where: str) -> HostResult:
    return host.value, gas


def _address(where: str, name: str, address: object, *others: object) -> bytes:
    if type(address) is not bytes:
        need(where, name, "a bytes address", address, *others)
    if len(address) != RAW_SIZE:
        fault(where, f"{name} address must be {RAW_SIZE} bytes, got {len(address)}")
    return address


def h_balance(host: HostApi, gas: int, where: str, address: object) -> HostResult:
    address = _address(where, "BALANCE", address)
    return _ask(gas, lambda: host.balance(address)), gas


def h_transfer(host: HostApi, gas: int, where: str, to: object, amount: object) -> HostResult:
    to = _address(where, "TRANSFER", to, amount)
    if type(amount) is not int:
        need(where, "TRANSFER", "a bytes address and an int", to, amount)
    if amount <= 0:
        fault(where, f"TRANSFER amount {amount} must be positive")
    _ask(gas, lambda: host.transfer(to, amount))
    return None, gas


def h_key_address(host: HostApi, gas: int, where: str, key: object) -> HostResult:
    if type(key) is not bytes:
        need(where, "KEY_ADDRESS", "bytes", key)
    if len(key) != PUBLIC_KEY_SIZE:
        fault(where, f"KEY_ADDRESS key must be {PUBLIC_KEY_SIZE} bytes, got {len(key)}")
    return key_address(key).raw, gas


def h_param(host: HostApi, gas: int, where: str, name: object) -> HostResult:
    if type(name) is not str:
        need(where, "PARAM", "a str", name)
    return _ask(gas, lambda: host.param(name)), gas


def h_spec_error(host: HostApi, gas: int, where: str, spec: object) -> HostResult:
    if type(spec) is not bytes:
        need(where, "SPEC_ERROR", "bytes", spec)
    gas = charge(gas, _per_byte(Host.SPEC_ERROR, len(spec)))
    return spec_error(spec), gas


def h_deploy(
    host: HostApi,
    gas: int,
    where: str,
    wid: object,
    version: object,
    spec: object,
    payer: object,
) -> HostResult:
    if type(wid) is not int or type(version) is not int or type(spec) is not bytes:
        need(where, "DEPLOY", "an int id, an int version, bytes and an address", wid, version)
    payer = _address(where, "DEPLOY", payer)
    if wid < 1 or version < 1:
        fault(where, f"DEPLOY needs a workload id and version of at least 1, got {wid}, {version}")
    gas = charge(gas, _per_byte(Host.DEPLOY, len(spec)))
    _ask(gas, lambda: host.deploy(wid, version, spec, payer))
    return None, gas


def h_fund(host: HostApi, gas: int, where: str, wid: object, amount: object) -> HostResult:
    if type(wid) is not int or type(amount) is not int:
        need(where, "FUND", "an int id and an int amount", wid, amount)
    if amount <= 0:
        fault(where, f"FUND amount {amount} must be positive")
    _ask(gas, lambda: host.fund(wid, amount))
    return None, gas


def h_undeploy(host: HostApi, gas: int, where: str, wid: object, reason: object) -> HostResult:
    if type(wid) is not int or type(reason) is not str:
        need(where, "UNDEPLOY", "an int id and a str reason", wid, reason)
    _ask(gas, lambda: host.undeploy(wid, reason))
    return None, gas


HostFunction = Callable[..., HostResult]

HOST_FUNCTIONS: dict[int, HostFunction] = {
    Host.SLOAD: h_sload,
    Host.SHAS: h_shas,
    Host.SSTORE: h_sstore,
    Host.SDEL: h_sdel,
    Host.EMIT: h_emit,
    Host.CALLER: h_caller,
    Host.SIGNER_COUNT: h_signer_count,
    Host.SIGNER: h_signer,
    Host.HEIGHT: h_height,
    Host.TIME: h_time,
    Host.ED25519: h_ed25519,
    Host.HASH: h_hash,
    Host.SELF: h_self,
    Host.VALUE: h_value,
    Host.BALANCE: h_balance,
    Host.TRANSFER: h_transfer,
    Host.KEY_ADDRESS: h_key_address,
    Host.PARAM: h_param,
    Host.SPEC_ERROR: h_spec_error,
    Host.DEPLOY: h_deploy,
    Host.UNDEPLOY: h_undeploy,
    Host.FUND: h_fund,
}
