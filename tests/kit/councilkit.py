"""A chain of four validators whose council (a 2-of-2 multisig) changes the validator set:
for the council's and the light client's tests."""

from collections.abc import Sequence
from pathlib import Path

from chain.address import key_address
from chain.genesis_state import COUNCIL_ADDRESS, GenesisState
from chain.hashing import hash32
from chain.keys import KeyPair, keypair_from_seed
from chain.ledger.policy import Signer, make_policy
from chain.ledger.transactions import SignedTx, Transfer, TxBody, sign_tx
from chain.params import ChainParams
from chain.staking.council import InvalidValidatorChange
from chain.staking.txs import ValidatorAdd, ValidatorChange
from chain.staking.validators import bls_registration, make_validator_set, validator_with_key
from tests.kit.stakingkit import StakingChain

CHAIN = "gridchain-council"


def key(name: str) -> KeyPair:
    return keypair_from_seed(hash32(b"council/" + name.encode()))


A, B, C, D = (key(n) for n in "abcd")
NEWCOMERS = [key(f"new{i}") for i in range(8)]
COUNCIL_1, COUNCIL_2 = key("council 1"), key("council 2")
STAKE = 100


def make_genesis(**params: int) -> GenesisState:
    return GenesisState(
        chain_id=CHAIN,
        genesis_time_ms=1_767_225_600_000,
        balances=((key_address(A.public_key), 10**9),),
        validators=make_validator_set(
            [validator_with_key(k, STAKE, n) for k, n in zip((A, B, C, D), "abcd", strict=True)]
        ),
        council=make_policy([Signer(COUNCIL_1.public_key, 1), Signer(COUNCIL_2.public_key, 1)], 2),
        params=ChainParams(**params),
    )


class CouncilChain(StakingChain):
    def __init__(self, path: Path, genesis: GenesisState) -> None:
        super().__init__(path, genesis, [A, B, C, D, *NEWCOMERS])
        self.council_nonce = 0
        self.produce(
            [
                sign_tx(
                    TxBody(
                        CHAIN, key_address(A.public_key), 0, 1, Transfer(COUNCIL_ADDRESS, 10**6)
                    ),
                    [A],
                )
            ]
        )

    def council_tx(
        self, change: ValidatorChange, signers: Sequence[KeyPair] = (COUNCIL_1, COUNCIL_2)
    ) -> SignedTx:
        tx = sign_tx(TxBody(CHAIN, COUNCIL_ADDRESS, self.council_nonce, 1, change), list(signers))
        return tx

    def decide(self, *changes: ValidatorChange) -> None:
        txs = []
        for change in changes:
            txs.append(self.council_tx(change))
            self.council_nonce += 1
        self.produce(txs)

    def refused(self, change: ValidatorChange) -> str:
        """Why the council's `change` is left out of the next block (an InvalidValidatorChange)."""
        _, rejected = self.build([self.council_tx(change)])
        assert len(rejected) == 1
        assert isinstance(rejected[0].error, InvalidValidatorChange), rejected[0].error
        return rejected[0].error.message

    def power(self) -> dict[bytes, int]:
        return {v.public_key: v.blockstake for v in self.active().validators}


def add(k: KeyPair, stake: int = STAKE, name: str = "new") -> ValidatorAdd:
    reg = bls_registration(k)
    return ValidatorAdd(k.public_key, reg.bls_key, reg.proof, stake, name)
