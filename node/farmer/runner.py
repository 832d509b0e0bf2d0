"""One farming node's loop: read the chain, ask the agent, sign and send, say what happened.

The CLI (`gridchain farmer run`) drives it and decides how things are said (text or JSON)."""

import threading
from collections.abc import Callable, Sequence
from typing import Any

from packaging.version import InvalidVersion, Version

from chain.address import key_address
from chain.errors import LocalFault
from chain.farming.compute import challenge_height
from chain.farming.records import COMMITTED, NONE
from chain.keys import KeyPair
from chain.ledger.transactions import PAYLOAD_NAMES, Payload, TxBody, sign_tx
from node.api.client import ApiError, NodeClient, answer_field
from node.farmer.agent import ChainView, FarmerAgent
from node.farmer.views import chain_view, field_of, params_from_json
from node.release import UPGRADE_EXIT_CODE, VERSION


class ReleaseMismatch(LocalFault):
    code = "release_mismatch"
    exit_code = UPGRADE_EXIT_CODE


def is_newer(version: str, than: str) -> bool:
    """PEP 440 order; a version that does not parse counts as different, so newer."""
    try:
        return Version(version) > Version(than)
    except InvalidVersion:
        return version != than


def release_verdict(upgrade: dict[str, Any], version: str) -> tuple[str | None, str | None]:
    """From GET /v1/upgrade: what to say about a planned release this agent does not run, and
    why to stop if the chain already runs a newer one than `version`."""
    plan = upgrade.get("plan") or {}
    announcement = None
    if plan.get("version") not in (None, version):
        announcement = (
            f"the chain switches to release {plan['version']} at height {plan.get('height')} "
            f"(upgrade {plan.get('name')!r}); this agent runs {version}: upgrade it"
        )
    running = (upgrade.get("running") or {}).get("version")
    stop = None
    if running and is_newer(running, version):
        stop = (
            f"the chain runs release {running}; this agent runs {version}, older: it stops "
            "rather than farm under rules it may not hold (upgrade it and start it again)"
        )
    return announcement, stop


class Runner:
    """One farming node: read the chain, ask the agent, sign and send, report.

    Heartbeats have a thread of their own (`beat`): a slot lasts a few blocks, and the compute
    work `work` does in its thread may take longer than that."""

    def __init__(
        self,
        client: NodeClient,
        key: KeyPair,
        agent: FarmerAgent,
        echo: Callable[[str, str, dict[str, Any]], None],
    ):
        self.client = client
        self.key = key
        self.agent = agent
        self.echo = echo
        self.address = key_address(key.public_key)
        status = client.status()
        self.chain_id = answer_field(status, "chain_id", str)
        self.fee = int((status.get("fees") or {}).get("min_fee", 1))
        self.lock = threading.RLock()  # one sender at a time: a nonce is read and used under it
        self.logged = 0
        self.sent = 0
        self.epoch: int | None = None
        self.reported_epoch: int | None = None
        self.failure: Exception | None = None
        self.last_view: ChainView | None = None
        self.waiting = False
        self.announced: str | None = None  # the upgrade plan last announced
        self.stopping_for_release = False

    def say(self, event: str, text: str, **data: Any) -> None:
        """One line per event: text for people, a JSON object with --json."""
        with self.lock:
            self.echo(event, text, data)

    def view(self) -> ChainView | None:
        """The chain as the agent sees it; None if it cannot be read consistently just now."""
        try:
            farming = self.client.farming()
            # The council changes parameters on chain: the agent proves by today's.
            self.agent.params = params_from_json(field_of(farming, "params"))
            return chain_view(farming, self.client.node(self.agent.node.id))
        except ApiError as exc:
            self.say(
                "error", f"reading the chain: {exc.message}", code=exc.code, message=exc.message
            )
            return None

    def beat(self, done: threading.Event, stop: threading.Event, poll: float) -> None:
        try:
            while not done.is_set():
                self.heartbeat()
                done.wait(poll)
        except Exception as exc:
            self.failure = exc  # the main loop stops and reports it: no farming without uptime
            stop.set()

    def owes_reveal(self) -> bool:
        """Whether this farmer committed a compute answer it has not opened yet while it still
        may: a commitment never opened costs the farm its bond, and the answer lives only in
        this process."""
        agent, view = self.agent, self.last_view
        answer = agent.answer
        if answer is None or view is None or agent.revealed_epoch == answer.epoch:
            return False
        if view.epoch.epoch != answer.epoch or view.activity.compute not in (NONE, COMMITTED):
            return False
        asked = challenge_height(agent.params, view.epoch.start, view.epoch.seed, agent.node.id)
        params = agent.params
        return view.height <= asked + params.compute_deadline_blocks + params.compute_reveal_blocks

    def say_waiting(self) -> None:
        if not self.waiting:
            self.waiting = True
            self.say(
                "waiting",
                "stopping once this epoch's compute commitment is opened (an unopened one costs "
                "the farm its bond); signal again to stop now",
            )

    def heartbeat(self) -> None:
        view = self.view()
        if view is not None:
            self.submit(self.agent.heartbeat(view), view)

    def check_release(self) -> None:
        """The chain's release against this agent's: say once when an upgrade is planned to a
        release this agent does not run; stop once the chain runs a newer one than this agent
        (its rules may have moved on). An agent upgraded ahead of the switch goes on."""
        try:
            view = self.client.get("/v1/upgrade")
        except ApiError:
            return
        announcement, stop = release_verdict(view, VERSION)
        plan = view.get("plan") or {}
        if announcement is not None and self.announced != plan.get("name"):
            self.announced = plan.get("name")
            self.say("upgrade", announcement, **plan)
        if stop is not None and not self.stopping_for_release:
            # Raised once: the loop then stops as on a signal, opening a commitment first.
            self.stopping_for_release = True
            raise ReleaseMismatch(stop)

    def work(self) -> None:
        """Storage proofs and compute answers as they fall due, and the rewards settled."""
        self.check_release()
        view = self.view()
        if view is None:
            return
        self.last_view = view
        self.report_rewards(view.epoch.epoch)
        payloads = self.agent.storage_proofs(view) + self.agent.compute(view)
        self.flush_log()
        self.submit(payloads, view)

    def submit(self, payloads: Sequence[Payload], view: ChainView | None = None) -> None:
        """Sign and send, one sender at a time (the farming loop, the heartbeat thread and
        the deployer share the node key's nonces)."""
        if not payloads:
            return
        with self.lock:
            self._submit(payloads, view)

    def _submit(self, payloads: Sequence[Payload], view: ChainView | None) -> None:
        try:
            nonce = answer_field(self.client.account(str(self.address)), "next_nonce", int)
            # The council may change the minimum fee: pay what it is now.
            self.fee = int((self.client.status().get("fees") or {}).get("min_fee", self.fee))
        except ApiError as exc:
            self.say("error", f"reading the node's nonce: {exc.message}", code=exc.code)
            return
        for payload in payloads:
            kind = PAYLOAD_NAMES[type(payload)]
            signed = sign_tx(
                TxBody(self.chain_id, self.address, nonce, self.fee, payload), [self.key]
            )
            try:
                self.client.submit_tx(signed.encoded)
            except ApiError as exc:
                self.say(
                    "error",
                    f"{kind} not accepted: {exc.code}: {exc.message}",
                    type=kind,
                    code=exc.code,
                    message=exc.message,
                )
                continue
            nonce += 1
            self.sent += 1
            where = "" if view is None else f" (epoch {view.epoch.epoch}, height {view.height})"
            self.say(
                "sent",
                f"sent {kind} {signed.id.hex()}{where}",
                type=kind,
                id=signed.id.hex(),
                nonce=signed.body.nonce,
                epoch=None if view is None else view.epoch.epoch,
                height=None if view is None else view.height,
            )

    def flush_log(self) -> None:
        for line in self.agent.log[self.logged :]:
            self.say("log", line, message=line)
        self.logged = len(self.agent.log)

    def report_rewards(self, epoch: int) -> None:
        """When an epoch has been settled since the last look, what it paid this node."""
        if self.epoch == epoch:
            return
        first = self.epoch is None
        self.epoch = epoch
        if first or self.reported_epoch is None:
            self.reported_epoch = epoch - 1
            return
        new = epoch - 1 - self.reported_epoch
        if new <= 0:
            return
        try:
            settled = self.client.farm_rewards(self.agent.node.farm, new)
        except ApiError as exc:
            self.say("error", f"reading rewards: {exc.message}", code=exc.code)
            return
        self.reported_epoch = epoch - 1
        node = self.agent.node.id
        for item in reversed(settled.get("epochs") or []):
            line = next((r for r in item.get("lines", []) if r.get("node") == node), None)
            amount = 0 if line is None else int(line["amount"])
            detail = (
                "no activity recorded"
                if line is None
                else f"storage {line['storage_bytes']} bytes, compute "
                f"{line['compute_milli_cores']} millicores, uptime {line['uptime_bp'] / 100:g}%"
            )
            if line is not None and line["uptime_bp"] < self.agent.params.min_uptime_bp:
                detail += f", below the {self.agent.params.min_uptime_bp / 100:g}% minimum"
            self.say(
                "reward",
                f"epoch {item['epoch']} settled in block {item['height']}: node {node} earned "
                f"{amount} ({detail})",
                epoch=item["epoch"],
                height=item["height"],
                node=node,
                amount=amount,
                line=line,
            )
