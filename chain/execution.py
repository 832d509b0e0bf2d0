"""The state transition: how a transaction and a block change the state.

Each transaction is checked completely before it writes anything, so a rejected transaction
changes nothing. A block is valid only if every transaction in it is valid in order; a producer
leaves out what would fail.
"""

from dataclasses import dataclass
from typing import Any

from chain.address import Address, AddressType, key_address, multisig_address
from chain.env import BlockEnv as BlockEnv  # re-exported: it used to live here
from chain.errors import (
    FeeTooLow,
    FutureNonce,
    InsufficientBalance,
    InvalidTransaction,
    PolicyNotSatisfied,
    StaleNonce,
    UnknownAccount,
)
from chain.policy import require_change_satisfied, require_satisfied
from chain.slashing import check_unjail, unjail
from chain.state import MAX_BALANCE, Account, Overlay
from chain.transactions import (
    CreateMultisig,
    SignedTx,
    Transfer,
    Unjail,
    UpdateMultisig,
    check_chain,
    check_shape,
)


@dataclass(frozen=True)
class Receipt:
    tx_id: bytes
    height: int
    index: int
    fee: int
    created: Address | None = None


def receipt_to_json(receipt: Receipt) -> dict[str, Any]:
    return {
        "tx_id": receipt.tx_id.hex(),
        "height": receipt.height,
        "index": receipt.index,
        "fee": receipt.fee,
        "status": "ok",
        "created": None if receipt.created is None else str(receipt.created),
    }


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
    account = sender_account(state, tx)
    check_nonce(tx, account)
    check_authorized(tx, account)
    check_funds(tx, account)
    return account


def created_address(tx: SignedTx) -> Address | None:
    """The account a transaction creates, if any (what its receipt reports)."""
    body = tx.body
    if isinstance(body.payload, CreateMultisig):
        return multisig_address(body.sender, body.nonce)
    return None


def check_recipient(state: Overlay, address: Address) -> None:
    """Credits may go to any key address, but to a multisig address only once its account
    (and so its policy) exists: otherwise they would be stuck, or could squat the address."""
    if address.type == AddressType.MULTISIG and state.account(address) is None:
        raise InvalidTransaction(f"no multisig account exists at {address}")


def credit(state: Overlay, address: Address, amount: int) -> None:
    account = state.account(address) or Account()
    if account.balance + amount > MAX_BALANCE:
        raise InvalidTransaction(f"balance of {address} would exceed {MAX_BALANCE}")
    state.set_account(address, Account(account.balance + amount, account.nonce, account.policy))


def process_transaction(env: BlockEnv, state: Overlay, tx: SignedTx, index: int) -> Receipt:
    """Apply one transaction whose signatures are already verified, or raise and change nothing."""
    account = check_transaction(env, state, tx)
    body, payload = tx.body, tx.body.payload
    created = created_address(tx)
    if created is not None and state.account(created) is not None:
        raise InvalidTransaction(f"account {created} already exists")
    recipient = payload.to if isinstance(payload, Transfer) else created
    if isinstance(payload, Transfer):
        check_recipient(state, payload.to)
    if recipient is not None:
        existing = state.account(recipient) or Account()
        amount = payload.amount if isinstance(payload, Transfer | CreateMultisig) else 0
        if existing.balance + amount > MAX_BALANCE:
            raise InvalidTransaction(f"balance of {recipient} would exceed {MAX_BALANCE}")
    jailed = None
    if isinstance(payload, Unjail):
        jailed = check_unjail(state, payload.validator, env.height)
    # Every check passed: now write.
    policy = payload.policy if isinstance(payload, UpdateMultisig) else account.policy
    state.set_account(body.sender, Account(account.balance - tx.spend, account.nonce + 1, policy))
    if isinstance(payload, Transfer):
        credit(state, payload.to, payload.amount)
    elif isinstance(payload, CreateMultisig) and created is not None:
        state.set_account(created, Account(payload.amount, 0, payload.policy))
    elif jailed is not None:
        unjail(state, jailed, env.height)
    credit(state, env.proposer, body.fee)
    return Receipt(tx.id, env.height, index, body.fee, created)


def proposer_address(public_key: bytes) -> Address:
    """Fees go to the key address of the block's proposer."""
    return key_address(public_key)
