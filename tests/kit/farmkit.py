"""Farming on a one-validator chain over a real LevelDB: farmers registered with real keys,
real k=18 chiapos plots, real scrypt work; the farmer's agent (node/farmer/agent.py) decides what to
send from the store, as `gridchain farmer run` does from the API."""

from dataclasses import dataclass, field

from chain.address import Address, key_address
from chain.farming.records import (
    read_activity,
    read_counters,
    read_epoch,
    read_node,
    read_recent_hashes,
)
from chain.farming.rewards import NodeReward
from chain.farming.rules import epoch_start, node_consent_message
from chain.farming.txs import FarmCreate, Location, NodeRegister, Resources
from chain.keys import KeyPair
from chain.state import read_account
from node.farmer.agent import ChainView, FarmerAgent
from node.farmer.plots import Plot
from tests.kit.chainkit import CHAIN, ContractChain, make_genesis

FARMING = {
    "epoch_blocks": 24,
    "heartbeat_interval_blocks": 4,
    "storage_challenges": 64,
    "plot_min_k": 18,
    "compute_units_per_core": 8,
    "compute_scrypt_log_n": 10,
    "compute_scrypt_r": 8,
    "compute_samples": 4,
    "compute_deadline_blocks": 4,
    "compute_reveal_blocks": 4,
    "reward_per_gib": 10**9,
    "reward_per_core": 10**6,
    "farm_min_bond": 10_000,
    "farm_slash_bp": 10_000,
}
BOND = 50_000
NODE_FUNDS = 1_000_000
RESOURCES = Resources(cores=1, memory_mb=4096, ssd_gb=1, hdd_gb=0)
LOCATION = Location("BE", "Ghent", 51_054_342, 3_717_424)


def farming_genesis(**overrides: int):  # type: ignore[no-untyped-def]
    return make_genesis(**(FARMING | overrides))


@dataclass
class Farmer:
    owner: KeyPair
    node_key: KeyPair
    plots: list[Plot]
    farm: int = 0
    node: int = 0
    agent: FarmerAgent | None = None
    sent: list[object] = field(default_factory=list)

    @property
    def payout(self) -> Address:
        return key_address(self.owner.public_key)


def register(chain: ContractChain, farmer: Farmer, resources: Resources = RESOURCES) -> None:
    """Open the farm, fund the node key, register the node; starts the farmer's agent."""
    next_farm, next_node = read_counters(chain.store)
    owner = farmer.owner
    from chain.ledger.transactions import Transfer

    chain.produce(
        [
            chain.tx(owner, FarmCreate(f"farm-{next_farm}", farmer.payout, BOND)),
            chain.tx(owner, Transfer(key_address(farmer.node_key.public_key), NODE_FUNDS)),
        ]
    )
    consent = farmer.node_key.sign(
        node_consent_message(CHAIN, next_farm, farmer.node_key.public_key)
    )
    chain.produce(
        [
            chain.tx(
                owner,
                NodeRegister(next_farm, farmer.node_key.public_key, resources, LOCATION, consent),
            )
        ]
    )
    farmer.farm, farmer.node = next_farm, next_node
    node = read_node(chain.store, next_node)
    assert node is not None
    farmer.agent = FarmerAgent(chain.genesis.params, node, farmer.plots)


def view(chain: ContractChain, node: int) -> ChainView:
    """What the API shows a farmer: the head, the epoch, the node's activity, recent hashes."""
    epoch = read_epoch(chain.store)
    assert epoch is not None
    head = chain.head
    recent = dict(read_recent_hashes(chain.store)) | {head.height: head.hash}
    return ChainView(
        head.height, head.hash, epoch, read_activity(chain.store, node, epoch.epoch), recent.get
    )


def step(chain: ContractChain, farmers: list[Farmer]) -> None:
    """One block holding whatever each farmer's agent says is due."""
    txs = []
    for f in farmers:
        assert f.agent is not None
        for payload in f.agent.next_payloads(view(chain, f.node)):
            f.sent.append(payload)
            txs.append(chain.tx(f.node_key, payload))
    chain.produce(txs)


def run_until(chain: ContractChain, farmers: list[Farmer], height: int) -> None:
    while chain.head.height < height:
        step(chain, farmers)


def epoch_rewards_paid(chain: ContractChain, epoch: int) -> tuple[NodeReward, ...]:
    """The rewards carried by the first block of epoch + 1 (it must be committed)."""
    start = epoch_start(chain.genesis.params, epoch + 1)
    for result in chain.results:
        if result.block.height == start:
            return result.block.rewards
    raise AssertionError(f"block {start} is not committed yet")


def balance(chain: ContractChain, address: Address) -> int:
    account = read_account(chain.store, address)
    return 0 if account is None else account.balance
