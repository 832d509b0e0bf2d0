"""Contracts in the state, and what the chain asks of the VM that runs them.

The chain does not know the VM (chain/ imports none of our packages): a node hands its
`ContractRuntime` (vm/runtime.py) to block building and validation. The chain keeps the records
(code and storage under per-contract keys, so the state root commits to both) and the money:
it moves the call's value, charges gas at the fee rules below, and throws away everything a
failed call wrote.
"""

from dataclasses import dataclass
from typing import Any, Protocol

from chain.address import Address
from chain.encoding import decode_stored, encode, expect_list, stored_record
from chain.env import BlockEnv
from chain.errors import EncodingError, InvalidTransaction
from chain.hashing import tagged_hash
from chain.ledger.transactions import Call, Deploy, SignedTx, Value, arg_to_json
from chain.state import Overlay, StateReader

# Status of a contract transaction in its receipt. A call that reverts, faults or runs out
# of gas is still in the block: its fee is charged and its writes are discarded.
OK = "ok"
REVERT = "revert"
FAULT = "fault"
OUT_OF_GAS = "out_of_gas"
STATUSES = (OK, REVERT, FAULT, OUT_OF_GAS)


@dataclass(frozen=True)
class Event:
    contract: Address
    topic: str
    data: bytes


@dataclass(frozen=True)
class Outcome:
    """What running a deploy or a call produced."""

    status: str
    gas_used: int
    return_value: Value | None = None
    message: str = ""
    events: tuple[Event, ...] = ()


class ContractRuntime(Protocol):
    """The VM as the chain sees it. Both methods write through `state` (a child overlay the
    chain discards unless the outcome is OK) and must be deterministic."""

    def deploy(
        self, env: BlockEnv, state: Overlay, tx: SignedTx, payload: Deploy, address: Address
    ) -> Outcome: ...

    def call(self, env: BlockEnv, state: Overlay, tx: SignedTx, payload: Call) -> Outcome: ...


class NoRuntime:
    """For tools that never run contracts: a contract transaction is refused, not guessed at."""

    def deploy(
        self, env: BlockEnv, state: Overlay, tx: SignedTx, payload: Deploy, address: Address
    ) -> Outcome:
        raise InvalidTransaction("this node runs no contract VM")

    def call(self, env: BlockEnv, state: Overlay, tx: SignedTx, payload: Call) -> Outcome:
        raise InvalidTransaction("this node runs no contract VM")


# Records


def code_key(contract: Address) -> bytes:
    return tagged_hash(b"gc/state/code", contract.raw)


def storage_key(contract: Address, key: bytes) -> bytes:
    return tagged_hash(b"gc/state/cstore", contract.raw + key)


def contract_code(reader: StateReader, contract: Address) -> bytes | None:
    return reader.get_state(code_key(contract))


_KINDS: dict[type, int] = {int: 1, bool: 2, bytes: 3, str: 4}


def encode_storage_value(value: Value) -> bytes:
    """[kind, payload]; ints as signed big-endian bytes, since they may exceed CBOR's 64 bits."""
    if isinstance(value, bool):
        return encode([2, value])
    if isinstance(value, int):
        size = (value.bit_length() + 8) // 8
        return encode([1, value.to_bytes(size, "big", signed=True)])
    return encode([_KINDS[type(value)], value])


@stored_record("storage value")
def decode_storage_value(data: bytes) -> Value:
    item = expect_list(decode_stored(data), "storage value", 2)
    if len(item) != 2:
        raise EncodingError("storage value must be [kind, payload]")
    kind, payload = item
    if kind == 1 and isinstance(payload, bytes):
        return int.from_bytes(payload, "big", signed=True)
    if (kind, type(payload)) in ((2, bool), (3, bytes), (4, str)):
        value: Value = payload
        return value
    raise EncodingError(f"storage value of unknown kind {kind!r}")


def read_storage(reader: StateReader, contract: Address, key: bytes) -> Value | None:
    raw = reader.get_state(storage_key(contract, key))
    return None if raw is None else decode_storage_value(raw)


def storage_value_to_json(value: Value) -> Any:
    return arg_to_json(value)


def event_to_json(event: Event) -> dict[str, Any]:
    return {"contract": str(event.contract), "topic": event.topic, "data": event.data.hex()}
