"""A one-validator chain over a real LevelDB for contract tests: every block is built by
build_block, checked again by validate_block (the path a peer takes), then committed."""

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chain.address import Address, key_address
from chain.blockchain import BlockResult, Rejected, build_block, env_for, open_chain, validate_block
from chain.blocks.commit import Commit, sign_commit
from chain.errors import RuleViolation
from chain.genesis_state import GenesisContract, GenesisState
from chain.hashing import hash32
from chain.keys import KeyPair, keypair_from_seed
from chain.ledger.contracts import read_storage
from chain.ledger.execution import Receipt
from chain.ledger.policy import Signer, make_policy
from chain.ledger.transactions import Call, Deploy, Payload, SignedTx, TxBody, Value, sign_tx
from chain.params import ChainParams
from chain.staking.validators import make_validator_set, validator_with_key
from chain.state import Overlay, read_account
from chain.store import ChainStore
from contracts_std.standard import standard_contracts
from vm.runtime import VmRuntime, query

CHAIN = "gridchain-contracts"
GENESIS_TIME = 1_767_225_600_000
FUNDS = 10**12
GAS = 2_000_000


def key(name: str) -> KeyPair:
    return keypair_from_seed(hash32(b"contracts/" + name.encode()))


VALIDATOR = key("validator")
USERS = {name: key(name) for name in ("alice", "bob", "carol", "dave", "erin", "node", "mallory")}


def make_genesis(**params: int) -> GenesisState:
    return GenesisState(
        chain_id=CHAIN,
        genesis_time_ms=GENESIS_TIME,
        balances=tuple((key_address(k.public_key), FUNDS) for k in USERS.values()),
        validators=make_validator_set([validator_with_key(VALIDATOR, 1000, "v")]),
        council=make_policy([Signer(VALIDATOR.public_key, 1)], 1),
        params=ChainParams(**params),
        contracts=tuple(GenesisContract(name, code) for name, code in standard_contracts()),
    )


class ContractChain:
    def __init__(self, path: Path, genesis: GenesisState) -> None:
        self.genesis = genesis
        self.store = ChainStore(str(path))
        self.head = open_chain(self.store, genesis)
        self.last_commit: Commit | None = None
        self.runtime = VmRuntime()
        self.nonces: dict[Address, int] = {}
        self.results: list[BlockResult] = []

    def close(self) -> None:
        self.store.close()

    def tx(self, signer: KeyPair, payload: Payload, fee: int | None = None) -> SignedTx:
        sender = key_address(signer.public_key)
        nonce = self.nonces.get(sender, 0)
        self.nonces[sender] = nonce + 1
        params = self.genesis.params
        gas = payload.gas_limit if isinstance(payload, Call | Deploy) else 0
        fee = params.min_fee + gas * params.gas_price if fee is None else fee
        return sign_tx(TxBody(CHAIN, sender, nonce, fee, payload), [signer])

    def build_only(self, txs: Sequence[SignedTx] = ()) -> tuple[BlockResult, list[Rejected]]:
        return build_block(
            self.store,
            self.head,
            self.last_commit,
            VALIDATOR.public_key,
            self.head.time_ms + 1000,
            list(txs),
            runtime=self.runtime,
        )

    def refusal(self, tx: SignedTx) -> RuleViolation:
        """Build a block with `tx` alone; it must be left out (its nonce is given back).
        Returns why."""
        result, rejected = self.build_only([tx])
        assert result.block.txs == () and [r.tx for r in rejected] == [tx]
        self.nonces[tx.body.sender] = tx.body.nonce
        return rejected[0].error

    def produce(self, txs: Sequence[SignedTx] = ()) -> BlockResult:
        result, rejected = self.build_only(txs)
        assert rejected == [], [r.error.message for r in rejected]
        again = validate_block(self.store, self.head, result.block, runtime=self.runtime)
        assert again.writes == result.writes and again.receipts == result.receipts
        header = result.block.header
        commit = sign_commit(CHAIN, Overlay(self.store).validator_set(), [VALIDATOR], header)
        self.store.commit_block(
            result.block,
            commit,
            result.writes,
            result.new_nodes,
            receipts=result.receipts,
            audit_entries=result.audit_entries,
        )
        self.head, self.last_commit = header, commit
        self.results.append(result)
        return result

    def advance(self, blocks: int) -> None:
        for _ in range(blocks):
            self.produce()

    def call(
        self,
        signer: KeyPair,
        contract: Address,
        function: str,
        *args: Value,
        value: int = 0,
        gas: int = GAS,
    ) -> Receipt:
        """One call in its own block; returns its receipt (whatever its status)."""
        result = self.produce(
            [self.tx(signer, self.call_payload(contract, function, *args, value=value, gas=gas))]
        )
        return result.receipts[0]

    @staticmethod
    def call_payload(
        contract: Address, function: str, *args: Value, value: int = 0, gas: int = GAS
    ) -> Call:
        return Call(contract, function, args, value, gas)

    def ok(self, signer: KeyPair, contract: Address, function: str, *args: Value, **kw: Any) -> Any:
        receipt = self.call(signer, contract, function, *args, **kw)
        assert receipt.status == "ok", (function, receipt.status, receipt.message)
        return receipt.return_value

    def query(self, contract: Address, function: str, *args: Value) -> Any:
        state = Overlay(self.store)
        outcome = query(env_for(self.head, state), state, contract, function, args, b"", GAS)
        assert outcome.status == "ok", (function, outcome.message)
        return outcome.return_value

    def balance(self, address: Address) -> int:
        account = read_account(self.store, address)
        return 0 if account is None else account.balance

    def storage(self, contract: Address, key_: bytes) -> Any:
        return read_storage(self.store, contract, key_)
