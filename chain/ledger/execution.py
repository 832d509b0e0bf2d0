"""The state transition: how a transaction and a block change the state.

Each transaction's rules write into a working set over the block's state (Overlay.child) that is
merged only if every rule passed, so a rejected transaction changes nothing. Balances and nonces
change only through chain/state.py's three mutators, under one overflow rule.

A block is valid only if every transaction in it is valid in order; a producer leaves out what
would fail.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from chain.address import Address, AddressType, contract_address, key_address, multisig_address
from chain.deployment.reports import DEPLOYMENT_RULES
from chain.encoding import expect_bytes, expect_int, expect_list, expect_map, expect_text
from chain.env import BlockEnv as BlockEnv  # re-exported: it used to live here
from chain.errors import (
    EncodingError,
    FeeTooLow,
    FutureNonce,
    InsufficientBalance,
    InvalidTransaction,
    PolicyNotSatisfied,
    StaleNonce,
    UnknownAccount,
    present,
)
from chain.farming.rules import FARM_RULES
from chain.governance.rules import GOVERNANCE_RULES
from chain.ledger.audit import AuditEntry
from chain.ledger.contracts import (
    OK,
    STATUSES,
    ContractRuntime,
    Event,
    NoRuntime,
    Outcome,
    code_key,
    contract_code,
    decode_storage_value,
    encode_storage_value,
    event_to_json,
)
from chain.ledger.policy import require_change_satisfied, require_satisfied
from chain.ledger.transactions import (
    Call,
    CreateMultisig,
    Deploy,
    SignedTx,
    Transfer,
    Unjail,
    UpdateMultisig,
    Value,
    arg_to_json,
    check_chain,
    check_shape,
    payload_as,
)
from chain.params import ChainParams
from chain.staking.council import decide_validator_change
from chain.staking.slashing import check_unjail, unjail
from chain.staking.txs import ValidatorAdd, ValidatorRemove, ValidatorSetStake
from chain.state import Account, Overlay, bump_nonce, decrease_balance, increase_balance


@dataclass(frozen=True)
class Receipt:
    """What a transaction did. Contract transactions also report gas, the call's status
    (a reverted call is in the block and pays its gas), its return value, message and events."""

    tx_id: bytes
    height: int
    index: int
    fee: int
    created: Address | None = None
    status: str = OK
    gas_used: int = 0
    return_value: Value | None = None
    message: str = ""
    events: tuple[Event, ...] = ()


def receipt_to_json(receipt: Receipt) -> dict[str, Any]:
    return {
        "tx_id": receipt.tx_id.hex(),
        "height": receipt.height,
        "index": receipt.index,
        "fee": receipt.fee,
        "status": receipt.status,
        "created": None if receipt.created is None else str(receipt.created),
        "gas_used": receipt.gas_used,
        "return_value": None if receipt.return_value is None else arg_to_json(receipt.return_value),
        "message": receipt.message,
        "events": [event_to_json(e) for e in receipt.events],
    }


def receipt_to_value(receipt: Receipt) -> dict[str, Any]:
    """Stored receipts (contract transactions only: the others are rebuilt from the tx)."""
    value = receipt.return_value
    return {
        "height": receipt.height,
        "index": receipt.index,
        "fee": receipt.fee,
        "created": [] if receipt.created is None else [receipt.created.raw],
        "status": receipt.status,
        "gas_used": receipt.gas_used,
        "return": [] if value is None else [encode_storage_value(value)],
        "message": receipt.message,
        "events": [[e.contract.raw, e.topic, e.data] for e in receipt.events],
    }


def receipt_from_value(tx_id: bytes, value: Any) -> Receipt:
    f = expect_map(
        value,
        "receipt",
        ("height", "index", "fee", "created", "status", "gas_used", "return", "message", "events"),
    )
    created = expect_list(f["created"], "receipt created", 1)
    returned = expect_list(f["return"], "receipt return", 1)
    events = []
    for item in expect_list(f["events"], "receipt events", 1 << 16):
        contract, topic, data = expect_list(item, "event", 3)
        events.append(
            Event(
                Address(expect_bytes(contract, "event contract", 33)),
                expect_text(topic, "event topic", 64),
                expect_bytes(data, "event data", None, 1 << 20),
            )
        )
    status = expect_text(f["status"], "receipt status", 16)
    if status not in STATUSES:
        raise EncodingError(f"receipt status {status!r} is unknown")
    return Receipt(
        tx_id,
        expect_int(f["height"], "receipt height"),
        expect_int(f["index"], "receipt index"),
        expect_int(f["fee"], "receipt fee"),
        Address(expect_bytes(created[0], "created", 33)) if created else None,
        status,
        expect_int(f["gas_used"], "gas used"),
        decode_storage_value(expect_bytes(returned[0], "return value")) if returned else None,
        expect_text(f["message"], "receipt message", 4096),
        tuple(events),
    )


def check_nonce(tx: SignedTx, account: Account) -> None:
    if tx.body.nonce < account.nonce:
        raise StaleNonce(
            f"nonce {tx.body.nonce} already used; the account's next is {account.nonce}"
        )
    if tx.body.nonce > account.nonce:
        raise FutureNonce(
            f"nonce {tx.body.nonce} is ahead of the account's next nonce {account.nonce}"
        )


def check_authorized(tx: SignedTx, account: Account) -> None:
    """Key senders were matched in check_shape; multisig senders must satisfy their policy."""
    if tx.body.sender.type != AddressType.MULTISIG:
        return
    if account.policy is None:
        raise PolicyNotSatisfied("multisig account has no policy")
    if isinstance(tx.body.payload, UpdateMultisig):
        require_change_satisfied(account.policy, tx.body.payload.policy, tx.signers)
    else:
        require_satisfied(account.policy, tx.signers)


def check_funds(tx: SignedTx, account: Account) -> None:
    if account.balance < tx.spend:
        raise InsufficientBalance(
            f"balance {account.balance} does not cover amount and fee {tx.spend}"
        )


def sender_account(state: Overlay, tx: SignedTx) -> Account:
    account = state.account(tx.body.sender)
    if account is None:
        raise UnknownAccount(f"sender {tx.body.sender} has no account (never funded)")
    return account


def check_transaction(env: BlockEnv, state: Overlay, tx: SignedTx) -> Account:
    """Every check except signatures (verified in parallel beforehand); returns the sender."""
    check_chain(tx, env.chain_id)
    check_shape(tx)
    if tx.body.fee < env.params.min_fee:
        raise FeeTooLow(f"fee {tx.body.fee} is below the minimum {env.params.min_fee}")
    payload = tx.body.payload
    if isinstance(payload, Deploy | Call):
        check_gas(env.params, tx.body.fee, payload.gas_limit)
    account = sender_account(state, tx)
    check_nonce(tx, account)
    check_authorized(tx, account)
    check_funds(tx, account)
    return account


def check_gas(params: ChainParams, fee: int, gas_limit: int) -> None:
    """A contract transaction's fee must cover its whole gas limit at the gas price."""
    if gas_limit > params.max_tx_gas:
        raise InvalidTransaction(f"gas limit {gas_limit} is above the maximum {params.max_tx_gas}")
    most = params.min_fee + gas_limit * params.gas_price
    if fee < most:
        raise FeeTooLow(
            f"fee {fee} does not cover the gas limit: min_fee + gas_limit * gas_price = {most}"
        )


def created_address(tx: SignedTx) -> Address | None:
    """The account a transaction creates, if any (what its receipt reports)."""
    body = tx.body
    if isinstance(body.payload, CreateMultisig):
        return multisig_address(body.sender, body.nonce)
    if isinstance(body.payload, Deploy):
        return contract_address(body.sender, body.nonce)
    return None


def check_recipient(state: Overlay, address: Address) -> None:
    """Credits may go to any key address, but to a multisig address only once its account
    (and so its policy) exists: otherwise they would be stuck, or could squat the address."""
    if address.type == AddressType.MULTISIG and state.account(address) is None:
        raise InvalidTransaction(f"no multisig account exists at {address}")


def transfer(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    payload = payload_as(tx, Transfer)
    check_recipient(state, payload.to)
    increase_balance(state, payload.to, payload.amount)


def create_multisig(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    """Open a multisig account with the credits sent (already taken from the sender)."""
    payload = payload_as(tx, CreateMultisig)
    created = multisig_address(tx.body.sender, tx.body.nonce)
    if state.account(created) is not None:
        raise InvalidTransaction(f"account {created} already exists")
    state.set_account(created, Account(balance=payload.amount, policy=payload.policy))


def update_multisig(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    """Replace the sender's policy (the old policy approved the change: check_authorized)."""
    payload = payload_as(tx, UpdateMultisig)
    account = present(state.account(tx.body.sender), f"account {tx.body.sender} (checked)")
    state.set_account(tx.body.sender, replace(account, policy=payload.policy))


def unjail_validator(env: BlockEnv, state: Overlay, tx: SignedTx) -> None:
    payload = payload_as(tx, Unjail)
    unjail(state, check_unjail(state, payload.validator, env.height), env.height)


TxRule = Callable[[BlockEnv, Overlay, SignedTx], None]

RULES: dict[type, TxRule] = {
    Transfer: transfer,
    CreateMultisig: create_multisig,
    UpdateMultisig: update_multisig,
    Unjail: unjail_validator,
    ValidatorAdd: decide_validator_change,
    ValidatorRemove: decide_validator_change,
    ValidatorSetStake: decide_validator_change,
    **FARM_RULES,
    **DEPLOYMENT_RULES,
    **GOVERNANCE_RULES,
}
"""The rule of every kind that moves its amount and fee up front (all but Deploy and Call,
whose fee depends on the gas they use: process_contract_tx)."""


def process_transaction(
    env: BlockEnv,
    state: Overlay,
    tx: SignedTx,
    index: int,
    runtime: ContractRuntime | None = None,
) -> Receipt:
    """Apply one transaction whose signatures are already verified, or raise and change nothing:
    its rules write into a working set that is merged into `state` only if all of them passed."""
    check_transaction(env, state, tx)
    work = state.child()
    if isinstance(tx.body.payload, Deploy | Call):
        receipt = process_contract_tx(env, work, tx, index, runtime or NoRuntime())
    else:
        receipt = process_plain_tx(env, work, tx, index)
    work.merge_into_parent()
    return receipt


def process_plain_tx(env: BlockEnv, state: Overlay, tx: SignedTx, index: int) -> Receipt:
    """Take the amount and fee, move the nonce on, apply the kind's rule, pay the proposer."""
    rule = RULES.get(type(tx.body.payload))
    if rule is None:
        raise InvalidTransaction(f"{type(tx.body.payload).__name__} has no rule")
    decrease_balance(state, tx.body.sender, tx.spend)
    bump_nonce(state, tx.body.sender)
    rule(env, state, tx)
    # `state` is this transaction's own working set: every audit entry in it is the rule's.
    state.audit[:] = stamped(state.audit, index, tx.id)
    increase_balance(state, env.proposer, tx.body.fee)
    return Receipt(tx.id, env.height, index, tx.body.fee, created_address(tx))


def proposer_address(public_key: bytes) -> Address:
    """Fees go to the key address of the block's proposer."""
    return key_address(public_key)


# Contracts


def check_contract_target(state: Overlay, tx: SignedTx) -> Address:
    """The contract a deploy creates (must be new) or a call runs (must exist)."""
    payload = tx.body.payload
    if isinstance(payload, Deploy):
        address = contract_address(tx.body.sender, tx.body.nonce)
        if state.account(address) is not None or contract_code(state, address) is not None:
            raise InvalidTransaction(f"account {address} already exists")
        return address
    if not isinstance(payload, Call):
        raise InvalidTransaction("only a deploy or a call targets a contract")
    if contract_code(state, payload.contract) is None:
        raise InvalidTransaction(f"no contract is deployed at {payload.contract}")
    return payload.contract


def gas_fee(env: BlockEnv, gas_used: int) -> int:
    return env.params.min_fee + gas_used * env.params.gas_price


def run_contract(
    env: BlockEnv, work: Overlay, tx: SignedTx, address: Address, runtime: ContractRuntime
) -> Outcome:
    """Move the call's value, then run the VM, all inside `work` (dropped if it fails)."""
    payload = tx.body.payload
    if isinstance(payload, Deploy):
        outcome = runtime.deploy(env, work, tx, payload, address)
        if outcome.status == OK:
            work.set_state(code_key(address), payload.code)
            work.set_account(address, work.account(address) or Account())
        return outcome
    if not isinstance(payload, Call):
        raise InvalidTransaction("only a deploy or a call runs a contract")
    if payload.value:
        decrease_balance(work, tx.body.sender, payload.value)
        increase_balance(work, address, payload.value)
    return runtime.call(env, work, tx, payload)


def process_contract_tx(
    env: BlockEnv, state: Overlay, tx: SignedTx, index: int, runtime: ContractRuntime
) -> Receipt:
    """A deploy or call: checked like any transaction, then run. A call that fails is still
    applied: the nonce moves on and gas is paid, but nothing it wrote (or sent) remains."""
    address = check_contract_target(state, tx)
    body = tx.body
    gas_limit = body.payload.gas_limit  # type: ignore[union-attr]
    bump_nonce(state, body.sender)
    work = state.child()
    outcome = run_contract(env, work, tx, address, runtime)
    gas_used = min(outcome.gas_used, gas_limit)
    if outcome.status == OK:
        chain_steps = stamped(work.audit, index, tx.id)  # what the call had the chain do
        work.audit.clear()
        work.merge_into_parent()
        append_audit_events(state, env, tx, index, outcome.events)
        state.audit.extend(chain_steps)
    fee = gas_fee(env, gas_used)
    decrease_balance(state, body.sender, fee)  # funds were checked against the full fee
    increase_balance(state, env.proposer, fee)
    ok = outcome.status == OK
    return Receipt(
        tx.id,
        env.height,
        index,
        fee,
        created=address if isinstance(body.payload, Deploy) and ok else None,
        status=outcome.status,
        gas_used=gas_used,
        return_value=outcome.return_value if ok else None,
        message=outcome.message,
        events=outcome.events if ok else (),
    )


def stamped(entries: list[AuditEntry], index: int, tx_id: bytes) -> list[AuditEntry]:
    """Entries a transaction's rules (or the chain steps a contract call asked for) made,
    marked as this transaction's: the rules that make them do not know where it sits."""
    return [replace(e, tx_index=index, tx_id=tx_id) for e in entries]


def append_audit_events(
    state: Overlay, env: BlockEnv, tx: SignedTx, index: int, events: tuple[Event, ...]
) -> None:
    """Every event of a successful call becomes an entry of the audit log."""
    for e in events:
        state.audit.append(AuditEntry(env.height, index, tx.id, e.contract.raw, e.topic, e.data))
