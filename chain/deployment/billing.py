"""What a replica costs while it runs: tfchain's capacity units, pro-rated by block.

Per billing period (billing_period_blocks), in thousandths of a unit so everything stays
integer:
  CU = min(max(mru/4, cru/2), max(mru/8, cru), max(mru/2, cru/4))   (mru in GB, cru in cores)
  SU = hru/1200 + sru/200                                           (GB)
  cost = (CU * price_cu + SU * price_su) / 1000 + ipv4 * price_ipv4
A replica is billed for what it reserves (not what it happens to use), for the blocks it was
deployed up to its node's latest heartbeat, from the escrow of its deployment to the payout
address of its node's farm. A heartbeat is the node's proof of life: the blocks after it are
paid once the next heartbeat proves them, never if the node dies first (so a node that went
down is never paid for the blocks it was silent, whoever settles the bill).
"""

from dataclasses import replace

from chain.deployment.journal import record
from chain.deployment.records import DEPLOYED, Deployment
from chain.deployment.spec import Compute, DeploymentSpec
from chain.env import BlockEnv
from chain.errors import present
from chain.farming.records import read_farm, read_last_seen, read_node
from chain.params import ChainParams
from chain.state import Overlay, increase_balance

MB_PER_GB = 1024


def cu_milli(cores: int, memory_mb: int) -> int:
    """Compute units in thousandths (memory counted in GB, as tfchain does)."""
    mru = memory_mb * 1000 // MB_PER_GB  # milli-GB
    a = max(mru // 4, cores * 500)
    b = max(mru // 8, cores * 1000)
    c = max(mru // 2, cores * 250)
    return min(a, b, c)


def su_milli(ssd_gb: int, hdd_gb: int) -> int:
    return hdd_gb * 1000 // 1200 + ssd_gb * 1000 // 200


def cost(params: ChainParams, compute: Compute, blocks: int) -> int:
    """Credits for one replica of `compute` deployed for `blocks` blocks."""
    need = compute.need
    per_period = (
        cu_milli(need.cores, need.memory_mb) * params.price_cu
        + su_milli(need.ssd_gb, need.hdd_gb) * params.price_su
        + (1000 * params.price_ipv4 if compute.ipv4 else 0)
    )
    return per_period * blocks // (1000 * params.billing_period_blocks)


# Settling: escrow -> the farm; grace when it runs short


def billable_until(env: BlockEnv, state: Overlay, node: int) -> int:
    """The last height a replica on `node` can be billed for now: its latest heartbeat (0 if
    it never sent one), never past this block."""
    return min(env.height, read_last_seen(state, node) or 0)


def settle_replica(
    env: BlockEnv, state: Overlay, d: Deployment, spec: DeploymentSpec, at: int
) -> Deployment:
    """Bill replica `at` for the blocks it was deployed since it was last billed, up to its
    node's latest heartbeat (billable_until): the farm of its node is paid from the escrow.
    What the escrow cannot pay is not owed later: the deployment pauses instead (grace), so a
    farm risks at most what ran since its last bill. The caller saves the result
    (journal.save), which queues the end of a grace period."""
    replica = d.replicas[at]
    end = billable_until(env, state, replica.node)
    blocks = end - replica.billed_until
    if replica.state != DEPLOYED or d.in_grace or blocks <= 0:
        return d
    amount = cost(env.params, compute_named(spec, replica.workload), blocks)
    paid = min(amount, d.escrow)
    node = present(read_node(state, replica.node), f"node {replica.node} of a placed replica")
    farm = present(read_farm(state, node.farm), f"farm {node.farm} of node {node.id}")
    if paid:
        increase_balance(state, farm.payout, paid)
    billed = replace(replica, billed_until=end)
    d = replace(
        d, escrow=d.escrow - paid, replicas=(*d.replicas[:at], billed, *d.replicas[at + 1 :])
    )
    record(
        env, state, d.ref, "bill", version=d.version, workload=replica.workload,
        index=replica.index, node=replica.node, blocks=blocks, until=end, amount=amount,
        paid=paid,
    )  # fmt: skip
    if paid < amount:
        d = replace(d, grace_since=env.height)
        record(env, state, d.ref, "paused", version=d.version, short=amount - paid)
    return d


def settle_all(env: BlockEnv, state: Overlay, d: Deployment, spec: DeploymentSpec) -> Deployment:
    for at in range(len(d.replicas)):
        d = settle_replica(env, state, d, spec, at)
    return d


def period_cost(params: ChainParams, d: Deployment, spec: DeploymentSpec) -> int:
    """What every replica of `d` costs for one billing period."""
    return sum(
        cost(params, compute_named(spec, r.workload), params.billing_period_blocks)
        for r in d.replicas
        if r.placed
    )


def fund(
    env: BlockEnv, state: Overlay, d: Deployment, spec: DeploymentSpec, amount: int
) -> Deployment:
    """Add to the escrow. A paused deployment resumes once the escrow covers a billing period
    of all its replicas; the paused blocks are not billed."""
    d = replace(d, escrow=d.escrow + amount)
    record(env, state, d.ref, "funded", version=d.version, amount=amount, escrow=d.escrow)
    if d.in_grace and d.escrow >= period_cost(env.params, d, spec):
        resumed = tuple(replace(r, billed_until=env.height) for r in d.replicas)
        d = replace(d, grace_since=0, replicas=resumed)
        record(env, state, d.ref, "resumed", version=d.version)
    return d


def compute_named(spec: DeploymentSpec, name: str) -> Compute:
    return next(c for c in spec.compute if c.name == name)
