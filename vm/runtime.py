"""The VM as the chain's contract runtime: deploys and calls against the block's state.

The chain (chain/ledger/execution.py) moves the call's value, gives the runtime a child overlay and
drops it unless the outcome is OK; this module only turns the transaction into a VM run and
the VM's host calls into state reads and writes of the called contract.
"""

from chain.address import Address
from chain.deployment.rules import end_deployment, fund_deployment, request_deployment
from chain.env import BlockEnv
from chain.errors import RuleViolation
from chain.ledger.contracts import (
    FAULT,
    OK,
    OUT_OF_GAS,
    Event,
    Outcome,
    contract_code,
    encode_storage_value,
    read_storage,
    storage_key,
)
from chain.ledger.execution import check_recipient
from chain.ledger.transactions import Call, Deploy, SignedTx, Value
from chain.params import PARAM_NAMES
from chain.state import Account, Overlay, decrease_balance, increase_balance
from vm.errors import Fault, InvalidCode
from vm.machine import execute, load_program

DEPLOY_GAS = 1_000
DEPLOY_GAS_PER_BYTE = 4
CODE_BYTES_PER_GAS = 8  # every call pays for loading its contract's code, cached or not


def deploy_gas(code: bytes) -> int:
    return DEPLOY_GAS + DEPLOY_GAS_PER_BYTE * len(code)


class ChainHost:
    """HostApi (vm/host.py) for one call: storage and money of the called contract."""

    def __init__(
        self,
        env: BlockEnv,
        state: Overlay,
        contract: Address,
        caller: bytes,
        signers: tuple[bytes, ...] = (),
        value: int = 0,
    ) -> None:
        self.env = env
        self.state = state
        self.contract = contract
        self.caller = caller
        self.signers = signers
        self.height = env.height
        self.time_ms = env.time_ms
        self.self_address = contract.raw
        self.value = value
        self.events: list[Event] = []

    def sload(self, key: bytes) -> int | bool | bytes | str | None:
        return read_storage(self.state, self.contract, key)

    def sstore(self, key: bytes, value: int | bool | bytes | str) -> None:
        self.state.set_state(storage_key(self.contract, key), encode_storage_value(value))

    def sdel(self, key: bytes) -> None:
        self.state.delete_state(storage_key(self.contract, key))

    def emit(self, topic: str, data: bytes) -> None:
        self.events.append(Event(self.contract, topic, data))

    def balance(self, address: bytes) -> int:
        account = self.state.account(_address(address))
        return 0 if account is None else account.balance

    def transfer(self, to: bytes, amount: int) -> None:
        recipient = _address(to)
        if amount <= 0:
            raise Fault(f"transfer amount {amount} must be positive")
        own = self.state.account(self.contract) or Account()
        if own.balance < amount:
            raise Fault(f"contract balance {own.balance} is below the transfer of {amount}")
        if recipient == self.contract:
            raise Fault("a contract cannot transfer to itself")
        try:
            check_recipient(self.state, recipient)
            decrease_balance(self.state, self.contract, amount)
            increase_balance(self.state, recipient, amount)
        except RuleViolation as exc:
            raise Fault(exc.message) from None

    def deploy(self, wid: int, version: int, spec: bytes, payer: bytes) -> None:
        try:
            request_deployment(
                self.env, self.state, self.contract, wid, version, spec, _address(payer)
            )
        except RuleViolation as exc:
            raise Fault(exc.message) from None

    def undeploy(self, wid: int, reason: str) -> None:
        end_deployment(self.env, self.state, self.contract, wid, reason)

    def fund(self, wid: int, amount: int) -> None:
        try:
            fund_deployment(self.env, self.state, self.contract, wid, amount)
        except RuleViolation as exc:
            raise Fault(exc.message) from None

    def param(self, name: str) -> int:
        if name not in PARAM_NAMES:
            raise Fault(f"unknown chain parameter {name!r}")
        value: int = getattr(self.env.params, name)
        return value


def _address(raw: bytes) -> Address:
    try:
        return Address(raw)
    except RuleViolation as exc:
        raise Fault(exc.message) from None


class VmRuntime:
    """chain.ledger.contracts.ContractRuntime backed by vm/machine.py."""

    def deploy(
        self, env: BlockEnv, state: Overlay, tx: SignedTx, payload: Deploy, address: Address
    ) -> Outcome:
        gas = deploy_gas(payload.code)
        if gas > payload.gas_limit:
            return Outcome(OUT_OF_GAS, payload.gas_limit, message=f"deploying needs {gas} gas")
        try:
            load_program(payload.code)
        except InvalidCode as exc:
            return Outcome(FAULT, gas, message=f"invalid code: {exc.message}")
        return Outcome(OK, gas)

    def call(self, env: BlockEnv, state: Overlay, tx: SignedTx, payload: Call) -> Outcome:
        host = ChainHost(
            env, state, payload.contract, tx.body.sender.raw, tx.signers, payload.value
        )
        return run(host, payload.function, payload.args, payload.gas_limit)


def run(host: ChainHost, function: str, args: tuple[Value, ...], gas_limit: int) -> Outcome:
    code = contract_code(host.state, host.contract)
    if code is None:  # the chain checked; a runtime never guesses
        return Outcome(FAULT, 0, message=f"no contract at {host.contract}")
    load_gas = load_code_gas(code)
    if load_gas > gas_limit:
        return Outcome(OUT_OF_GAS, gas_limit, message=f"loading the code needs {load_gas} gas")
    program = load_program(code)  # validated at deploy (or genesis); cached by hash
    result = execute(program, function, args, gas_limit - load_gas, host)
    events = tuple(host.events) if result.status == OK else ()
    gas_used = gas_limit if result.status == OUT_OF_GAS else load_gas + result.gas_used
    return Outcome(result.status, gas_used, result.value, result.message, events)


def load_code_gas(code: bytes) -> int:
    """The same on every node whether or not its cache holds the translated code, so a node
    that must decode and translate it again is paid for the work."""
    return len(code) // CODE_BYTES_PER_GAS


def query(
    env: BlockEnv,
    state: Overlay,
    contract: Address,
    function: str,
    args: tuple[Value, ...],
    caller: bytes,
    gas_limit: int,
) -> Outcome:
    """Run a call on `state` as `caller` without a transaction: for reads (the API's query).
    Whatever it writes stays in `state`, which the caller throws away."""
    return run(ChainHost(env, state, contract, caller), function, args, gas_limit)
