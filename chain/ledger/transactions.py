"""Transactions: what they say, their canonical bytes, and the checks that need no state.

The signed message is the transaction id: a domain-separated hash of the canonical body, which
holds the chain id, sender, nonce and fee. A signature therefore cannot be replayed on another
chain, and the nonce stops it being applied twice on this one.
"""

from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

from chain.address import RAW_SIZE, Address, AddressType, key_address
from chain.deployment.txs import (
    DEPLOYMENT_CODECS,
    DeploymentPayload,
    ReplicaBill,
    ReplicaReport,
    deployment_payload_to_json,
)
from chain.encoding import (
    decode,
    encode,
    encode_decoded,
    expect_bytes,
    expect_int,
    expect_list,
    expect_map,
    expect_text,
)
from chain.errors import EncodingError, InvalidSignature, InvalidTransaction, WrongChain
from chain.farming.txs import (
    FARM_CODECS,
    FARM_PAYLOADS,
    FarmCreate,
    FarmPayload,
    FarmUpdate,
    farm_payload_to_json,
)
from chain.governance.txs import (
    GOVERNANCE_CODECS,
    GovApprove,
    GovernancePayload,
    GovPropose,
    governance_payload_to_json,
)
from chain.hashing import tagged_hash
from chain.keys import PUBLIC_KEY_SIZE, SIGNATURE_SIZE, KeyPair, verify_signature
from chain.ledger.codec import PayloadCodec
from chain.ledger.policy import (
    MAX_SIGNERS,
    Policy,
    policy_from_value,
    policy_to_json,
    policy_to_value,
)
from chain.staking.txs import (
    STAKING_CODECS,
    ValidatorChange,
    validator_change_to_json,
)

MAX_TX_SIZE = 128 * 1024  # room for a deploy transaction's code
MAX_CODE_SIZE = 96 * 1024
MAX_CALL_ARGS = 16
MAX_ARG_BYTES = 8 * 1024
MAX_FUNCTION_NAME = 64
MAX_AMOUNT = 2**63 - 1
MAX_CHAIN_ID = 64


@dataclass(frozen=True)
class Transfer:
    to: Address
    amount: int


@dataclass(frozen=True)
class CreateMultisig:
    """Create a multisig account at multisig_address(sender, nonce), funded with `amount`."""

    policy: Policy
    amount: int


@dataclass(frozen=True)
class UpdateMultisig:
    """Replace the policy of the sending multisig account (old and new policy must both sign)."""

    policy: Policy


@dataclass(frozen=True)
class Unjail:
    """Bring a jailed validator back into the active set once its jail time is over.

    Sent from the validator's key address and so signed by the validator's own key."""

    validator: bytes


Value = int | bool | bytes | str
"""A contract value: a call's argument, a return value, a storage slot, a VM stack slot."""


@dataclass(frozen=True)
class Deploy:
    """Deploy contract code at contract_address(sender, nonce); the VM validates it first."""

    code: bytes
    gas_limit: int


@dataclass(frozen=True)
class Call:
    """Call a contract's public function, sending `value` credits to it with the call.

    The fee is the most the sender pays: min_fee + gas_limit * gas_price at least; what is
    charged is min_fee + gas_used * gas_price, whether the call succeeds or reverts."""

    contract: Address
    function: str
    args: tuple[Value, ...]
    value: int
    gas_limit: int


Payload = (
    Transfer
    | CreateMultisig
    | UpdateMultisig
    | Unjail
    | Deploy
    | Call
    | FarmPayload
    | DeploymentPayload
    | ValidatorChange
    | GovernancePayload
)
FARM_TYPES = tuple(FARM_PAYLOADS.values())


@dataclass(frozen=True)
class TxBody:
    chain_id: str
    sender: Address
    nonce: int
    fee: int
    payload: Payload


@dataclass(frozen=True)
class TxSignature:
    public_key: bytes
    signature: bytes


@dataclass(frozen=True)
class SignedTx:
    body: TxBody
    signatures: tuple[TxSignature, ...]

    @cached_property
    def id(self) -> bytes:
        """What the signers sign and what names the transaction."""
        return tx_id(self.body)

    @cached_property
    def encoded(self) -> bytes:
        return encode(signed_tx_to_value(self))

    @property
    def signers(self) -> tuple[bytes, ...]:
        return tuple(s.public_key for s in self.signatures)

    @property
    def spend(self) -> int:
        """Credits leaving the sender: amount moved plus fee."""
        payload = self.body.payload
        return moved_amount(payload) + self.body.fee


P = TypeVar("P")


def payload_as(tx: SignedTx, kind: type[P]) -> P:
    """The transaction's payload as `kind`: what a kind's rule starts with."""
    payload = tx.body.payload
    if not isinstance(payload, kind):
        raise InvalidTransaction(f"a {type(payload).__name__} is not a {kind.__name__}")
    return payload


def moved_amount(payload: "Payload") -> int:
    """Credits a payload moves out of the sender's account (besides the fee)."""
    if isinstance(payload, Transfer | CreateMultisig):
        return payload.amount
    if isinstance(payload, Call):
        return payload.value
    if isinstance(payload, FarmCreate):
        return payload.bond
    if isinstance(payload, FarmUpdate):
        return payload.add_bond
    return 0


# Canonical values: one codec per kind (FARM_CODECS holds farming's), looked up by kind or type.


def _transfer_to_value(payload: Transfer) -> dict[str, Any]:
    return {"to": payload.to.raw, "amount": payload.amount}


def _transfer_from_value(value: Any) -> Transfer:
    fields = expect_map(value, "transfer", ("to", "amount"))
    return Transfer(
        _address(fields["to"], "recipient"),
        expect_int(fields["amount"], "amount", 1, MAX_AMOUNT),
    )


def _multisig_create_to_value(payload: CreateMultisig) -> dict[str, Any]:
    return {"policy": policy_to_value(payload.policy), "amount": payload.amount}


def _multisig_create_from_value(value: Any) -> CreateMultisig:
    fields = expect_map(value, "multisig_create", ("policy", "amount"))
    return CreateMultisig(
        policy_from_value(fields["policy"]),
        expect_int(fields["amount"], "amount", 0, MAX_AMOUNT),
    )


def _multisig_update_to_value(payload: UpdateMultisig) -> dict[str, Any]:
    return {"policy": policy_to_value(payload.policy)}


def _multisig_update_from_value(value: Any) -> UpdateMultisig:
    fields = expect_map(value, "multisig_update", ("policy",))
    return UpdateMultisig(policy_from_value(fields["policy"]))


def _unjail_to_value(payload: Unjail) -> dict[str, Any]:
    return {"validator": payload.validator}


def _unjail_from_value(value: Any) -> Unjail:
    fields = expect_map(value, "unjail", ("validator",))
    return Unjail(expect_bytes(fields["validator"], "validator", PUBLIC_KEY_SIZE))


def _deploy_to_value(payload: Deploy) -> dict[str, Any]:
    return {"code": payload.code, "gas_limit": payload.gas_limit}


def _deploy_from_value(value: Any) -> Deploy:
    fields = expect_map(value, "deploy", ("code", "gas_limit"))
    return Deploy(
        expect_bytes(fields["code"], "code", None, MAX_CODE_SIZE),
        expect_int(fields["gas_limit"], "gas_limit", 1, MAX_AMOUNT),
    )


def _call_to_value(payload: Call) -> dict[str, Any]:
    return {
        "contract": payload.contract.raw,
        "function": payload.function,
        "args": list(payload.args),
        "value": payload.value,
        "gas_limit": payload.gas_limit,
    }


def _call_from_value(value: Any) -> Call:
    fields = expect_map(value, "call", ("contract", "function", "args", "value", "gas_limit"))
    return Call(
        contract=_address(fields["contract"], "contract"),
        function=expect_text(fields["function"], "function", MAX_FUNCTION_NAME),
        args=tuple(
            call_arg(arg, i)
            for i, arg in enumerate(expect_list(fields["args"], "args", MAX_CALL_ARGS))
        ),
        value=expect_int(fields["value"], "value", 0, MAX_AMOUNT),
        gas_limit=expect_int(fields["gas_limit"], "gas_limit", 1, MAX_AMOUNT),
    )


CODECS: tuple[PayloadCodec, ...] = (
    PayloadCodec("transfer", Transfer, _transfer_to_value, _transfer_from_value),
    PayloadCodec(
        "multisig_create", CreateMultisig, _multisig_create_to_value, _multisig_create_from_value
    ),
    PayloadCodec(
        "multisig_update", UpdateMultisig, _multisig_update_to_value, _multisig_update_from_value
    ),
    PayloadCodec("unjail", Unjail, _unjail_to_value, _unjail_from_value),
    PayloadCodec("deploy", Deploy, _deploy_to_value, _deploy_from_value),
    PayloadCodec("call", Call, _call_to_value, _call_from_value),
    *FARM_CODECS,
    *DEPLOYMENT_CODECS,
    *STAKING_CODECS,
    *GOVERNANCE_CODECS,
)
CODECS_BY_KIND = {c.kind: c for c in CODECS}
CODEC_OF_TYPE = {c.cls: c for c in CODECS}
PAYLOAD_TYPES: dict[str, type[Payload]] = {c.kind: c.cls for c in CODECS}
PAYLOAD_NAMES = {c.cls: c.kind for c in CODECS}


def payload_to_value(payload: Payload) -> dict[str, Any]:
    return CODEC_OF_TYPE[type(payload)].to_value(payload)


def body_to_value(body: TxBody) -> dict[str, Any]:
    return {
        "chain_id": body.chain_id,
        "sender": body.sender.raw,
        "nonce": body.nonce,
        "fee": body.fee,
        "type": PAYLOAD_NAMES[type(body.payload)],
        "payload": payload_to_value(body.payload),
    }


def signed_tx_to_value(tx: SignedTx) -> dict[str, Any]:
    return {
        "body": body_to_value(tx.body),
        "signatures": [[s.public_key, s.signature] for s in tx.signatures],
    }


def tx_id(body: TxBody) -> bytes:
    return tagged_hash(b"gc/tx", encode(body_to_value(body)))


def _address(value: Any, what: str) -> Address:
    return Address(expect_bytes(value, what, RAW_SIZE))


def payload_from_value(kind: str, value: Any) -> Payload:
    codec = CODECS_BY_KIND.get(kind)
    if codec is None:
        raise EncodingError(f"unknown transaction type {kind!r}")
    payload: Payload = codec.from_value(value)
    return payload


def call_arg(value: Any, i: int) -> Value:
    """A call argument: an int, bool, bytes or str (sizes capped as the VM caps them)."""
    if isinstance(value, bool | int):
        return value
    if isinstance(value, bytes):
        return expect_bytes(value, f"argument {i}", None, MAX_ARG_BYTES)
    if isinstance(value, str):
        if len(value.encode()) > MAX_ARG_BYTES:
            raise EncodingError(f"argument {i} is longer than {MAX_ARG_BYTES} bytes")
        return value
    raise EncodingError(f"argument {i} must be an int, bool, bytes or str")


def body_from_value(value: Any) -> TxBody:
    fields = expect_map(value, "body", ("chain_id", "sender", "nonce", "fee", "type", "payload"))
    return TxBody(
        chain_id=expect_text(fields["chain_id"], "chain_id", MAX_CHAIN_ID),
        sender=_address(fields["sender"], "sender"),
        nonce=expect_int(fields["nonce"], "nonce", 0, 2**63 - 1),
        fee=expect_int(fields["fee"], "fee", 0, MAX_AMOUNT),
        payload=payload_from_value(expect_text(fields["type"], "type"), fields["payload"]),
    )


def decode_tx(data: bytes) -> SignedTx:
    """Parse transaction bytes from outside; raises EncodingError/InvalidAddress/InvalidPolicy."""
    if len(data) > MAX_TX_SIZE:
        raise EncodingError(f"transaction of {len(data)} bytes exceeds {MAX_TX_SIZE}")
    fields = expect_map(decode(data), "transaction", ("body", "signatures"))
    signatures = []
    for i, item in enumerate(expect_list(fields["signatures"], "signatures", MAX_SIGNERS)):
        pair = expect_list(item, f"signature {i}", 2)
        if len(pair) != 2:
            raise EncodingError(f"signature {i} must be [public_key, signature]")
        signatures.append(
            TxSignature(
                expect_bytes(pair[0], f"signature {i} public key", PUBLIC_KEY_SIZE),
                expect_bytes(pair[1], f"signature {i}", SIGNATURE_SIZE),
            )
        )
    tx = SignedTx(body_from_value(fields["body"]), tuple(signatures))
    tx.__dict__["encoded"] = data  # already canonical: decode() checked it
    tx.__dict__["id"] = tagged_hash(b"gc/tx", _body_bytes(data, fields["signatures"]))
    return tx


_BODY_PREFIX = b"\xa2\x64body"  # map of 2, then the text key "body" (canonical: it sorts first)


def _body_bytes(data: bytes, signatures: list[Any]) -> bytes:
    """The body's canonical bytes, cut out of the (canonical) transaction rather than encoded
    again: the transaction is the map header, "body", the body, "signatures", the list."""
    suffix = b"\x6asignatures" + encode_decoded(signatures)
    if not data.startswith(_BODY_PREFIX) or not data.endswith(suffix):
        raise EncodingError("transaction fields are not in canonical order")
    return data[len(_BODY_PREFIX) : len(data) - len(suffix)]


# Building and signing


def sign_tx(body: TxBody, keys: list[KeyPair]) -> SignedTx:
    """Sign `body` with every key; signatures are kept sorted by public key (canonical)."""
    message = tx_id(body)
    ordered = sorted(keys, key=lambda k: k.public_key)
    return SignedTx(body, tuple(TxSignature(k.public_key, k.sign(message)) for k in ordered))


# Checks that need no state


def check_chain(tx: SignedTx, chain_id: str) -> None:
    if tx.body.chain_id != chain_id:
        raise WrongChain(f"transaction is for chain {tx.body.chain_id!r}, this is {chain_id!r}")


def check_shape(tx: SignedTx) -> None:
    """Signature list canonical; a key-address sender signs alone with the key it hashes from."""
    keys = [s.public_key for s in tx.signatures]
    if not keys:
        raise InvalidSignature("transaction is not signed")
    if keys != sorted(set(keys)):
        raise InvalidTransaction("signatures must be unique and sorted by public key")
    body = tx.body
    if body.sender.type == AddressType.CONTRACT:
        raise InvalidTransaction("a contract address cannot send transactions")
    if body.sender.type == AddressType.KEY:
        if len(keys) != 1:
            raise InvalidSignature("a key address is signed by exactly one key")
        if key_address(keys[0]) != body.sender:
            raise InvalidSignature("signing key does not belong to the sender address")
    elif isinstance(body.payload, CreateMultisig):
        raise InvalidTransaction("a multisig account cannot create another one")
    if isinstance(body.payload, UpdateMultisig) and body.sender.type != AddressType.MULTISIG:
        raise InvalidTransaction("only a multisig account can update its policy")
    if isinstance(body.payload, Transfer) and body.payload.to == body.sender:
        raise InvalidTransaction("sender and recipient are the same account")
    if isinstance(body.payload, Unjail) and body.sender != key_address(body.payload.validator):
        raise InvalidTransaction("unjail must be sent from the validator's own key address")
    if isinstance(body.payload, Call) and body.payload.contract.type != AddressType.CONTRACT:
        raise InvalidTransaction(f"{body.payload.contract} is not a contract address")


def check_signatures(tx: SignedTx) -> None:
    """The expensive check (one ed25519 verify per signature): run it off the event loop."""
    message = tx.id
    for sig in tx.signatures:
        if not verify_signature(sig.public_key, message, sig.signature):
            raise InvalidSignature(f"signature by {sig.public_key.hex()} does not verify")


def check_stateless(tx: SignedTx, chain_id: str) -> None:
    check_chain(tx, chain_id)
    check_shape(tx)
    check_signatures(tx)


def tx_to_json(tx: SignedTx) -> dict[str, Any]:
    """Readable view for the API: addresses with checksums, bytes in hex."""
    body = tx.body
    payload = body.payload
    view: dict[str, Any]
    if isinstance(payload, FARM_TYPES):
        view = farm_payload_to_json(payload)
    elif isinstance(payload, ReplicaReport | ReplicaBill):
        view = deployment_payload_to_json(payload)
    elif isinstance(payload, Transfer):
        view = {"to": str(payload.to), "amount": payload.amount}
    elif isinstance(payload, ValidatorChange):
        view = validator_change_to_json(payload)
    elif isinstance(payload, GovPropose | GovApprove):
        view = governance_payload_to_json(payload)
    elif isinstance(payload, Unjail):
        view = {"validator": payload.validator.hex()}
    elif isinstance(payload, Deploy):
        view = {"code": payload.code.hex(), "gas_limit": payload.gas_limit}
    elif isinstance(payload, Call):
        view = {
            "contract": str(payload.contract),
            "function": payload.function,
            "args": [arg_to_json(a) for a in payload.args],
            "value": payload.value,
            "gas_limit": payload.gas_limit,
        }
    elif isinstance(payload, CreateMultisig | UpdateMultisig):
        view = {"policy": policy_to_json(payload.policy)}
        if isinstance(payload, CreateMultisig):
            view["amount"] = payload.amount
    return {
        "id": tx.id.hex(),
        "chain_id": body.chain_id,
        "sender": str(body.sender),
        "nonce": body.nonce,
        "fee": body.fee,
        "type": PAYLOAD_NAMES[type(payload)],
        "payload": view,
        "signatures": [
            {"public_key": s.public_key.hex(), "signature": s.signature.hex()}
            for s in tx.signatures
        ],
    }


def arg_to_json(value: Value) -> Any:
    """Ints, bools and text as themselves; bytes as {"hex": ...} so they stay distinguishable."""
    return {"hex": value.hex()} if isinstance(value, bytes) else value
