"""What every block does for deployments before its transactions, on every validator alike.

First the nodes marked down at this height (chain/farming/liveness.py) give up what they hold
(healing.evacuate), which queues their deployments for this very height. Then every queued
deployment due now is looked at: a request waiting for placement is placed, a placed one has
its moving replicas and unrouted names placed again, and a paused one whose grace period is
over ends. All placements of a block share one budget of node checks (placement.Budget): what
does not fit waits for the next block.
"""

from chain.deployment.healing import evacuate, heal
from chain.deployment.journal import save, take_due
from chain.deployment.placement import Budget
from chain.deployment.records import ENDED, PLACED, PLACING, read_deployment
from chain.deployment.rules import finish, place_deployment
from chain.env import BlockEnv
from chain.errors import present
from chain.farming.liveness import Down
from chain.state import Overlay


def begin_deployment(env: BlockEnv, state: Overlay, down: tuple[Down, ...] = ()) -> None:
    budget = Budget()
    for node in down:
        evacuate(env, state, node)
    for ref in take_due(state, env.height):
        d = present(read_deployment(state, ref), "a queued deployment")
        if d.state == PLACING:
            place_deployment(env, state, d, budget)
        elif d.state == PLACED:
            if d.in_grace and env.height >= d.grace_since + env.params.grace_period_blocks:
                finish(env, state, d, ENDED, "out of funds")
            else:
                save(env, state, heal(env, state, d, budget))
