"""The genesis state in chain terms: what the genesis file says, already validated."""

from dataclasses import dataclass
from typing import Any

from chain import smt
from chain.address import Address, AddressType, named_contract_address, named_multisig_address
from chain.blocks.evidence import EMPTY_EVIDENCE_HASH
from chain.blocks.header import Header
from chain.encoding import encode
from chain.errors import RuleViolation
from chain.governance.upgrade import RELEASE_KEY, genesis_release, release_record
from chain.hashing import ZERO_HASH, tagged_hash
from chain.ledger.contracts import code_key
from chain.ledger.policy import Policy, policy_to_value
from chain.merkle import root as merkle_root
from chain.params import ChainParams, params_to_value, validate_params
from chain.staking.validators import (
    ValidatorSet,
    encode_validator_set,
    validator_set_hash,
    validator_set_to_value,
)
from chain.state import (
    JAILED_KEY,
    LAST_VALIDATORS_KEY,
    MAX_BALANCE,
    PARAMS_KEY,
    VALIDATORS_KEY,
    Account,
    SigningInfo,
    account_key,
    changed_hashes,
    encode_account,
    jailed_record,
    params_record,
    signing_info_key,
    signing_info_record,
)

COUNCIL_ADDRESS = named_multisig_address("council")


class InvalidGenesis(RuleViolation):
    code = "invalid_genesis"


@dataclass(frozen=True)
class GenesisContract:
    """A contract deployed at genesis at named_contract_address(name); genesis/ has checked
    its code with the VM's deploy-time validation."""

    name: str
    code: bytes

    @property
    def address(self) -> Address:
        return named_contract_address(self.name)


@dataclass(frozen=True)
class GenesisState:
    chain_id: str
    genesis_time_ms: int
    balances: tuple[tuple[Address, int], ...]
    validators: ValidatorSet
    council: Policy
    params: ChainParams
    contracts: tuple[GenesisContract, ...] = ()
    software_version: str = ""  # the release blocks must be made by, until an upgrade; "": any


def genesis_value(gen: GenesisState) -> dict[str, Any]:
    return {
        "chain_id": gen.chain_id,
        "genesis_time_ms": gen.genesis_time_ms,
        "balances": [[address.raw, amount] for address, amount in gen.balances],
        "validators": validator_set_to_value(gen.validators),
        "council": policy_to_value(gen.council),
        "params": params_to_value(gen.params),
        "contracts": [[c.name, c.code] for c in gen.contracts],
        "software_version": gen.software_version,
    }


def genesis_hash(gen: GenesisState) -> bytes:
    return tagged_hash(b"gc/genesis", encode(genesis_value(gen)))


def genesis_writes(gen: GenesisState) -> dict[bytes, bytes]:
    """The initial records: funded accounts, the council account, validators and parameters.

    The genesis validators are both the active and the LAST set (nobody has voted yet), the
    jail book is empty, and each validator's signing info tracks heights from 1 on."""
    addresses = [address for address, _ in gen.balances]
    if len(set(addresses)) != len(addresses):
        raise InvalidGenesis("an address appears twice in the initial balances")
    if COUNCIL_ADDRESS in addresses:
        raise InvalidGenesis("the council account is created by genesis, not funded by balances")
    for address in addresses:
        if address.type != AddressType.KEY:
            raise InvalidGenesis(f"genesis balance for {address}: only key addresses can be funded")
    total = sum(amount for _, amount in gen.balances)
    if total > MAX_BALANCE:
        raise InvalidGenesis(f"total supply {total} exceeds {MAX_BALANCE}")
    try:
        validate_params(gen.params)
    except RuleViolation as exc:
        raise InvalidGenesis(exc.message) from None
    writes = {
        account_key(address): encode_account(Account(amount, 0)) for address, amount in gen.balances
    }
    writes[account_key(COUNCIL_ADDRESS)] = encode_account(Account(0, 0, gen.council))
    writes[VALIDATORS_KEY] = encode_validator_set(gen.validators)
    writes[LAST_VALIDATORS_KEY] = encode_validator_set(gen.validators)
    writes[JAILED_KEY] = jailed_record(())
    for v in gen.validators.validators:
        writes[signing_info_key(v.public_key)] = signing_info_record(SigningInfo(1))
    writes[PARAMS_KEY] = params_record(gen.params)
    if gen.software_version:
        writes[RELEASE_KEY] = release_record(genesis_release(gen.software_version))
    names = [c.name for c in gen.contracts]
    if len(set(names)) != len(names):
        raise InvalidGenesis("a contract name appears twice")
    for contract in gen.contracts:
        writes[account_key(contract.address)] = encode_account(Account(0, 0))
        writes[code_key(contract.address)] = contract.code
    return writes


def genesis_header(gen: GenesisState, state_root: bytes) -> Header:
    """Block 0: no transactions, no proposer; its prev_hash is the genesis file's hash."""
    return Header(
        chain_id=gen.chain_id,
        height=0,
        prev_hash=genesis_hash(gen),
        time_ms=gen.genesis_time_ms,
        proposer=ZERO_HASH,
        tx_root=merkle_root([]),
        tx_count=0,
        state_root=state_root,
        audit_root=merkle_root([]),
        audit_size=0,
        validators_hash=validator_set_hash(gen.validators),
        next_validators_hash=validator_set_hash(gen.validators),
        last_commit_hash=ZERO_HASH,
        evidence_hash=EMPTY_EVIDENCE_HASH,
        version=gen.software_version,
    )


def genesis_state_root(writes: dict[bytes, bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    return smt.update(_EmptyNodes(), smt.EMPTY_ROOT, changed_hashes(writes))


class _EmptyNodes:
    def get_node(self, node_hash: bytes) -> bytes | None:
        return None
