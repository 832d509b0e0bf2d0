"""Pending transactions: per-sender nonce order, fee priority, bounded size.

A sender's pending transactions always form a gap-free run of nonces starting at its account's
next nonce, so every pending transaction could be included as soon as its predecessors are.
Blocks take the highest fee first among the heads of those runs.
"""

import heapq
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from chain.address import Address
from chain.errors import (
    FeeTooLow,
    FutureNonce,
    GridchainError,
    InsufficientBalance,
    RuleViolation,
    StaleNonce,
    UnknownAccount,
)
from chain.ledger.execution import check_authorized
from chain.ledger.transactions import SignedTx
from chain.state import Account

REPLACE_FEE_BUMP_PERCENT = 10


class DuplicateTx(RuleViolation):
    code = "duplicate"


class NoncePending(RuleViolation):
    code = "nonce_pending"


class Replaced(RuleViolation):
    code = "replaced"


class MempoolFull(GridchainError):
    code = "mempool_full"


@dataclass
class _Entry:
    tx: SignedTx
    seq: int
    size: int


@dataclass
class _Sender:
    entries: list[_Entry] = field(default_factory=list)
    spend: int = 0  # credits the pending entries move and pay, kept as they change

    def set_entries(self, entries: list[_Entry]) -> None:
        self.entries = entries
        self.spend = sum(e.tx.spend for e in entries)


class Mempool:
    def __init__(self, max_txs: int, max_bytes: int) -> None:
        self.max_txs = max_txs
        self.max_bytes = max_bytes
        self._by_id: dict[bytes, _Entry] = {}
        self._by_encoded: dict[bytes, SignedTx] = {}  # so a block's known txs skip decoding
        self._senders: dict[Address, _Sender] = {}
        self._seq = itertools.count()
        self.bytes = 0

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, tx_id: bytes) -> bool:
        return tx_id in self._by_id

    def pending_count(self, address: Address) -> int:
        """How many of the sender's transactions wait; its next nonce is the account's plus this."""
        sender = self._senders.get(address)
        return 0 if sender is None else len(sender.entries)

    def by_encoded(self, encoded: bytes) -> SignedTx | None:
        """The pending transaction with exactly these bytes (signatures included)."""
        return self._by_encoded.get(encoded)

    def _remember(self, entry: _Entry) -> None:
        self._by_id[entry.tx.id] = entry
        self._by_encoded[entry.tx.encoded] = entry.tx
        self.bytes += entry.size

    def _forget(self, entry: _Entry) -> None:
        del self._by_id[entry.tx.id]
        self._by_encoded.pop(entry.tx.encoded, None)
        self.bytes -= entry.size

    def get(self, tx_id: bytes) -> SignedTx | None:
        entry = self._by_id.get(tx_id)
        return None if entry is None else entry.tx

    def add(self, tx: SignedTx, account: Account | None, min_fee: int) -> SignedTx | None:
        """Admit a signature-checked transaction against the committed `account` of its
        sender; returns the transaction it replaced (replace-by-fee), if any."""
        if tx.id in self._by_id:
            raise DuplicateTx(f"transaction {tx.id.hex()} is already pending")
        if tx.body.fee < min_fee:
            raise FeeTooLow(f"fee {tx.body.fee} is below the minimum {min_fee}")
        if account is None:
            raise UnknownAccount(f"sender {tx.body.sender} has no account (never funded)")
        check_authorized(tx, account)
        sender = self._senders.get(tx.body.sender)
        pending = sender.entries if sender is not None else []
        next_nonce = account.nonce + len(pending)
        nonce = tx.body.nonce
        if nonce < account.nonce:
            raise StaleNonce(f"nonce {nonce} already used; the account's next is {account.nonce}")
        if nonce > next_nonce:
            raise FutureNonce(
                f"nonce {nonce} leaves a gap: the next expected nonce is {next_nonce}"
            )
        size = len(tx.encoded)
        if nonce < next_nonce:
            assert sender is not None
            return self._replace(sender, nonce - account.nonce, tx, account, size)
        spend = (sender.spend if sender is not None else 0) + tx.spend
        if spend > account.balance:
            raise InsufficientBalance(
                f"balance {account.balance} does not cover the pending spend {spend}"
            )
        if len(self._by_id) >= self.max_txs or self.bytes + size > self.max_bytes:
            raise MempoolFull(f"mempool holds {len(self._by_id)} transactions; try again later")
        if sender is None:
            sender = self._senders[tx.body.sender] = _Sender()
        entry = _Entry(tx, next(self._seq), size)
        sender.entries.append(entry)
        sender.spend += tx.spend
        self._remember(entry)
        return None

    def _replace(
        self, sender: _Sender, position: int, tx: SignedTx, account: Account, size: int
    ) -> SignedTx:
        """Replace-by-fee: a pending nonce may be re-sent with a fee at least 10% higher."""
        old = sender.entries[position]
        wanted = old.tx.body.fee + max(1, old.tx.body.fee * REPLACE_FEE_BUMP_PERCENT // 100)
        if tx.body.fee < wanted:
            raise NoncePending(
                f"nonce {tx.body.nonce} is already pending; replacing it needs a fee >= {wanted}"
            )
        if sender.spend - old.tx.spend + tx.spend > account.balance:
            raise InsufficientBalance("balance does not cover the pending spend with this fee")
        if self.bytes - old.size + size > self.max_bytes:
            raise MempoolFull(f"mempool holds {self.bytes} bytes; the replacement does not fit")
        self._forget(old)
        entry = _Entry(tx, next(self._seq), size)
        sender.entries[position] = entry
        sender.spend += tx.spend - old.tx.spend
        self._remember(entry)
        return old.tx

    def select(self, limit: int) -> Iterator[SignedTx]:
        """Highest fee first among senders' next transactions; a sender's stay in nonce order."""
        heap: list[tuple[int, int, Address, int]] = []
        for address, sender in self._senders.items():
            head = sender.entries[0]
            heap.append((-head.tx.body.fee, head.seq, address, 0))
        heapq.heapify(heap)
        count = 0
        while heap and count < limit:
            _, _, address, position = heapq.heappop(heap)
            entries = self._senders[address].entries
            yield entries[position].tx
            count += 1
            if position + 1 < len(entries):
                nxt = entries[position + 1]
                heapq.heappush(heap, (-nxt.tx.body.fee, nxt.seq, address, position + 1))

    def update(
        self, account_of: Callable[[Address], Account | None], touched: set[Address]
    ) -> list[tuple[SignedTx, str]]:
        """After a block: drop what it included and whatever can no longer be valid. Returns
        each dropped transaction with why (those the block included among them: their nonce
        is below the account's, as a stale one's is; the caller tells them apart)."""
        dropped: list[tuple[SignedTx, str]] = []
        for address in sorted(touched & self._senders.keys()):
            sender = self._senders[address]
            account = account_of(address)
            keep: list[_Entry] = []
            why = "its sender's account is gone"
            if account is not None:
                expected = account.nonce
                spend = 0
                for entry in sender.entries:
                    if entry.tx.body.nonce < account.nonce:
                        dropped.append((entry.tx, "its nonce was used by a committed transaction"))
                        continue
                    spend += entry.tx.spend
                    if entry.tx.body.nonce != expected:
                        why = "an earlier transaction of its sender was dropped"
                        break
                    if spend > account.balance:
                        why = "its sender's balance no longer covers it"
                        break
                    try:
                        check_authorized(entry.tx, account)
                    except RuleViolation:
                        why = "its sender's policy no longer authorizes it"
                        break
                    keep.append(entry)
                    expected += 1
            kept_ids = {e.tx.id for e in keep}
            for entry in sender.entries:
                if entry.tx.id not in kept_ids:
                    self._forget(entry)
                    if entry.tx.body.nonce >= (account.nonce if account else 0):
                        dropped.append((entry.tx, why))
            if keep:
                sender.set_entries(keep)
            else:
                del self._senders[address]
        return dropped

    def drop(self, tx: SignedTx) -> list[SignedTx]:
        """Remove a transaction a block builder found invalid, and its sender's later ones;
        returns those later ones."""
        sender = self._senders.get(tx.body.sender)
        if sender is None or tx.id not in self._by_id:
            return []
        position = next(i for i, e in enumerate(sender.entries) if e.tx.id == tx.id)
        removed = sender.entries[position:]
        for entry in removed:
            self._forget(entry)
        sender.set_entries(sender.entries[:position])
        if not sender.entries:
            del self._senders[tx.body.sender]
        return [e.tx for e in removed[1:]]
