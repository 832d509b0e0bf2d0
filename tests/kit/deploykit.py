"""State-level deployment fixtures: farm nodes written straight into an overlay (records, node
index, last-seen heights, their farms), and specs built through the edge's schema."""

from chain.address import Address, key_address
from chain.deployment.records import DeploymentRef
from chain.deployment.txs import ReplicaBill, ReplicaReport
from chain.env import BlockEnv
from chain.farming.index import index_node
from chain.farming.liveness import seen_alive
from chain.farming.records import (
    EPOCH_KEY,
    EpochInfo,
    Farm,
    FarmNode,
    encode_epoch,
    encode_farm,
    encode_node,
    farm_key,
    node_key,
)
from chain.farming.txs import Capabilities, Location, Resources
from chain.hashing import hash32
from chain.keys import KeyPair, keypair_from_seed
from chain.ledger.transactions import SignedTx, TxBody, sign_tx
from chain.params import ChainParams
from chain.state import Overlay
from contracts_std.spec import load_spec, spec_bytes

PARAMS = ChainParams(
    epoch_blocks=600,
    heartbeat_interval_blocks=20,
    node_down_blocks=60,
    billing_period_blocks=100,
    grace_period_blocks=50,
    price_cu=1_000,
    price_su=100,
    price_ipv4=50,
)
CONTRACT = Address(bytes([2]) + hash32(b"placement-test"))
PAYER = Address(bytes([1]) + hash32(b"payer"))
REF = DeploymentRef(CONTRACT, 1)  # workload 1 of CONTRACT: what the tests deploy
HEIGHT = 10  # inside the first heartbeat slots: uptime is not judged yet
PLACES = {  # country -> (latitude, longitude) in micro-degrees
    "BE": (51_054_342, 3_717_424),
    "NL": (52_370_216, 4_895_168),
    "DE": (52_520_008, 13_404_954),
    "US": (40_712_776, -74_005_974),
}


class Empty:
    def get_state(self, key: bytes) -> bytes | None:
        return None


def env(height: int = HEIGHT, seed: bytes = b"seed") -> BlockEnv:
    return BlockEnv("test", height, height * 1000, CONTRACT, PARAMS, hash32(seed))


def node_keypair(node_id: int) -> KeyPair:
    return keypair_from_seed(hash32(b"deploykit/node/%d" % node_id))


def payout_of(farm: int) -> Address:
    return Address(bytes([1]) + hash32(b"deploykit/payout/%d" % farm))


def farm_node(node_id: int, country: str, farm: int = 1, cores: int = 8) -> FarmNode:
    lat, lon = PLACES[country]
    return FarmNode(
        node_id,
        farm,
        node_keypair(node_id).public_key,
        Resources(cores, 16_384, 500, 0),
        Location(country, "City", lat, lon),
        0,
        Capabilities(container=True),
    )


def state_with(nodes: list[FarmNode], down: frozenset[int] = frozenset()) -> Overlay:
    """Nodes registered, indexed and (unless down) seen just before HEIGHT (as a heartbeat
    would: chain/farming/liveness.py); their farms."""
    state = Overlay(Empty())
    state.set_state(EPOCH_KEY, encode_epoch(EpochInfo(0, 1, hash32(b"epoch"))))
    for farm in sorted({n.farm for n in nodes}):
        owner = key_address(node_keypair(10_000 + farm).public_key)
        record = Farm(farm, owner, payout_of(farm), 10**6, f"farm {farm}")
        state.set_state(farm_key(farm), encode_farm(record))
    for node in nodes:
        state.set_state(node_key(node.id), encode_node(node))
        index_node(state, node)
        if node.id not in down:
            seen_alive(env(HEIGHT - 1), state, node.id)
    return state


def heartbeat(state: Overlay, node_id: int, height: int) -> None:
    """A heartbeat of `node_id` in block `height`, as the farming rule records it: the node's
    proof of life, up to which its replicas can be billed."""
    seen_alive(env(height), state, node_id)


def balance(state: Overlay, address: Address) -> int:
    account = state.account(address)
    return 0 if account is None else account.balance


def signed(key: KeyPair, payload: ReplicaReport | ReplicaBill, nonce: int = 0) -> SignedTx:
    return sign_tx(TxBody("test", key_address(key.public_key), nonce, 1, payload), [key])


def report(
    node: int, ok: bool = True, version: int = 1, index: int = 0, message: str = ""
) -> ReplicaReport:
    """Node `node`'s agent on replica web/`index` of workload 1 (REF): deployed or failed."""
    return ReplicaReport(
        node,
        CONTRACT,
        1,
        version,
        "web",
        index,
        ok,
        message or ("up" if ok else "oom"),
        "10.200.0.2" if ok else "",
    )


def bill(node: int, index: int = 0) -> ReplicaBill:
    return ReplicaBill(node, CONTRACT, 1, 1, "web", index)


def spec(cpu: int = 2, memory_mb: int = 1024, **placement: object) -> bytes:
    workload = {
        "type": "container",
        "name": "web",
        "image": "host",
        "cpu": cpu,
        "memory_mb": memory_mb,
    }
    document = {"name": "web", "workloads": [workload], "placement": placement, "budget": 1}
    return spec_bytes(load_spec(document))
