"""The web explorer in a real browser (headless Chromium, the system's, driven by Playwright)
against a real devnet: one validator, three farmers (BE, NL, DE) and a web workload whose node
died once, so it has moved. The pages show what the API says (compared item by item), the map
shows the farmers' countries, 'verify' passes for a real audit entry (worded by where the
trusted genesis hash came from) and fails for a tampered one, and for a listing that shows other
content than the entry its proof verifies; any error in the page's JavaScript fails the test.
Every page is kept as a screenshot in tests/artifacts/explorer/ (docs/explorer.md shows copies
of them).

The devnet lives under /tmp (tests/kit/farmnet.py says why) and needs root for its sandbox."""

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

from chain.address import key_address
from chain.hashing import hash32
from chain.keys import keypair_from_seed
from chain.ledger.audit import AuditEntry, decode_entry, encode_entry, entry_leaf, entry_to_json
from chain.params import ChainParams
from devnet.customer import web_spec
from devnet.network import PARAMS
from tests.kit.farmnet import (
    Devnet,
    deploy,
    devnet_in_tmp,
    fetch,
    ticking_farmers,
)
from tests.kit.netkit import wait_until
from tests.kit.support import gridchain

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts" / "explorer"
CHROMIUM = "/usr/bin/chromium"  # Debian's package (Makefile: SYSTEM_COMMANDS); never downloaded
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEVNET = ChainParams(**PARAMS)  # type: ignore[arg-type]
SERVE_TIMEOUT = 90.0
HEAL_TIMEOUT = DEVNET.node_down_blocks * DEVNET.empty_block_interval_ms / 1000 + 45
UI_TIMEOUT = 30_000  # ms a page may take to show what is waited for
NAME = "atlas"
# Never on the gateway's node (BE).
SPEC = {**web_spec(NAME, NAME, NAME, ["DE", "NL"]), "expiry_blocks": 1000}
# A key address that receives exactly one transfer: an account whose page never changes.
FRESH = key_address(keypair_from_seed(hash32(b"explorer-test/fresh")).public_key)


@pytest.fixture(scope="module")
def net() -> Iterator[Devnet]:
    """The devnet with three heartbeating farmers and a ticker; SPEC deployed, its node killed
    and the replica moved to the other country, the dead node back; a farm paid for an epoch."""
    with (
        devnet_in_tmp("gc-explorer-") as devnet,
        ticking_farmers(devnet, 3) as (up, status),
    ):
        assert up["explorer"] == f"{devnet.env['GRIDCHAIN_NODE']}/explorer/"
        client = devnet.client
        gateway = status["gateway"]["address"]
        wid = deploy(devnet, SPEC)
        wait_until(lambda: serves(gateway), SERVE_TIMEOUT, f"{NAME} served")
        first = replica(devnet, wid)["node"]
        devnet.run("stop", f"farmer{first}", "--crash")
        wait_until(
            lambda: replica(devnet, wid)["node"] not in (None, first) and serves(gateway),
            HEAL_TIMEOUT,
            "the replica moved and served again",
        )
        devnet.run("start", f"farmer{first}")
        wait_until(lambda: client.node(first)["status"] == "up", 30, "the dead node back")
        devnet.gridchain(
            "tx", "transfer", "--from", "alice", "--to", str(FRESH), "--amount", "5", "--wait"
        )
        wait_until(lambda: paid_epochs(devnet) > 0, 180, "an epoch paid to a farm")
        yield devnet


def serves(gateway: str) -> bool:
    code, body = fetch(gateway, f"{NAME}.gw.localhost")
    return code == 200 and body.strip() == NAME


def replica(devnet: Devnet, wid: int) -> dict[str, Any]:
    found: dict[str, Any] = devnet.client.get(f"/v1/workloads/{wid}")["deployment"]["replicas"][0]
    return found


def paid_epochs(devnet: Devnet) -> int:
    rewards = devnet.client.get("/v1/farms/1/rewards")["epochs"]
    return sum(1 for e in rewards if e["total"] > 0)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    assert Path(CHROMIUM).is_file(), f"{CHROMIUM} is missing: `make system-packages` installs it"
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


class Explorer:
    """One browser page on the devnet's explorer; every error its JavaScript throws or logs is
    kept, and the test fails on any."""

    def __init__(self, page: Page, devnet: Devnet, artifacts: Path) -> None:
        self.page, self.devnet, self.artifacts = page, devnet, artifacts
        self.base = f"{devnet.env['GRIDCHAIN_NODE']}/explorer/"
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("console", self.console)
        page.set_default_timeout(UI_TIMEOUT)

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console error: {message.text} ({message.location})")

    def api(self, path: str) -> Any:
        return self.devnet.client.get(path)

    def open(self, route: str, heading: str | re.Pattern[str]) -> None:
        """Go to `#/route` and wait until the page shows it (its h1 says `heading`)."""
        self.page.goto(f"{self.base}#/{route}")
        self.rendered(f"#/{route}", heading)

    def follow(self, link: Any, route: str, heading: str | re.Pattern[str]) -> None:
        """Click `link` and wait until the page shows the route it leads to."""
        link.click()
        self.rendered(re.compile("^" + re.escape(f"#/{route}")), heading)

    def rendered(self, route: str | re.Pattern[str], heading: str | re.Pattern[str]) -> None:
        # main's data-rendered names the route its content is for, once it is all there
        expect(self.page.locator("main")).to_have_attribute("data-rendered", route)
        expect(self.page.locator("main h1")).to_have_text(heading)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=self.artifacts / f"{name}.png", full_page=True)

    def rows(self, caption: str) -> list[list[str]]:
        """The cells' text of the table named `caption`, row by row."""
        table = self.page.get_by_role("table", name=caption, exact=True)
        expect(table).to_be_visible()
        rows = table.locator("tbody tr")
        return [
            [cell.strip() for cell in rows.nth(i).locator("td").all_inner_texts()]
            for i in range(rows.count())
        ]

    def field(self, name: str) -> str:
        """The value beside `name` in the page's description lists."""
        term = self.page.locator("dl.fields dt", has_text=re.compile(f"^{re.escape(name)}$"))
        return str(term.first.locator("xpath=following-sibling::dd[1]").inner_text()).strip()


@pytest.fixture
def explorer(net: Devnet, chromium: Browser, artifacts: Path) -> Iterator[Explorer]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    page = context.new_page()
    ui = Explorer(page, net, artifacts)
    try:
        yield ui
        assert ui.errors == [], "\n".join(ui.errors)
    finally:
        context.close()


def credits(amount: int) -> str:
    return f"{amount:,}\u00a0cr"  # a number and its unit on one line: a no-break space


def test_make_devnet_prints_the_explorers_url(net: Devnet) -> None:
    again = gridchain(
        "devnet", "up", "--validators", "1", "--base-port", str(net.base), "--farmers", "3",
        "--dir", str(net.directory), env=net.env,
    )  # fmt: skip
    url = f"{net.env['GRIDCHAIN_NODE']}/explorer/"
    assert f"explorer:   {url}\n" in again.stdout
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        assert '<script type="module" src="app.js">' in response.read().decode()


def test_blocks_transactions_and_accounts(explorer: Explorer) -> None:
    ui = explorer
    ui.open("", "Overview")
    ui.shot("overview")

    ui.open("blocks", "Blocks")
    rows = ui.rows("Blocks")
    assert len(rows) == 25
    for row in rows:
        header = ui.api(f"/v1/blocks/{row[0]}")["header"]
        assert row[1] == f"{header['hash'][:10]}…{header['hash'][-6:]}"
        assert row[4] == f"{header['tx_count']:,}" and row[6] == f"{header['audit_size']:,}"
    heights = [int(row[0]) for row in rows]
    assert heights == sorted(heights, reverse=True) and heights[0] - heights[-1] == 24
    ui.shot("blocks")
    ui.follow(ui.page.get_by_role("link", name="Older"), "blocks?before=", "Blocks")
    older = ui.rows("Blocks")
    assert int(older[0][0]) == heights[-1] - 1

    # A block with transactions (the ticker's transfers) below the head (so it has its
    # certificate), then one of them.
    busy = next(
        h for h in range(heights[1], 0, -1) if ui.api(f"/v1/blocks/{h}")["header"]["tx_count"]
    )
    block = ui.api(f"/v1/blocks/{busy}")
    ui.open(f"block/{busy}", f"Block {busy}")
    assert ui.field("Hash") == block["header"]["hash"]
    txs = ui.rows("Transactions")
    assert [row[0] for row in txs] == [f"{t['id'][:10]}…{t['id'][-6:]}" for t in block["txs"]]
    assert [row[1] for row in txs] == [t["type"] for t in block["txs"]]
    names = {v["public_key"]: v["name"] for v in ui.api("/v1/validators")["validators"]}
    assert ui.field("Finalized by") == "\n".join(names[k] for k in block["commit"]["validators"])
    ui.shot("block")

    tx = block["txs"][0]
    first = ui.page.get_by_role("table", name="Transactions").get_by_role("link").first
    ui.follow(first, f"tx/{tx['id']}", "Transaction")
    assert ui.field("Status") == "committed" and ui.field("Block") == str(busy)
    assert ui.field("Type") == tx["type"] and ui.field("Fee") == credits(tx["fee"])
    assert ui.field("Nonce") == f"{tx['nonce']:,}"
    if tx["type"] == "transfer":
        assert ui.field("Amount") == credits(tx["payload"]["amount"])
    ui.shot("transaction")

    ui.open(f"account/{FRESH}", "Account")
    assert ui.field("Balance") == credits(5) and ui.field("Kind") == "key"
    assert ui.field("Exists") == "yes" and ui.field("Nonce") == "0"
    ui.shot("account")


def test_validators_farms_and_nodes(explorer: Explorer) -> None:
    ui = explorer
    view = ui.api("/v1/validators")
    ui.open("validators", "Validators")
    rows = ui.rows("Active validators")
    assert [r[0] for r in rows] == [v["name"] for v in view["validators"]]
    assert [r[2] for r in rows] == [f"{v['blockstake']:,}" for v in view["validators"]]
    assert all(r[4].endswith("%") and r[6] == "active" for r in rows)
    assert ui.rows("Jailed validators") == [["none jailed"]]
    ui.shot("validators")

    nodes = {n["id"]: n for n in ui.api("/v1/nodes")["nodes"]}
    farms = ui.api("/v1/farms")["farms"]
    ui.open("farms", "Farms")
    farm_rows = ui.rows("Farms")
    assert [r[0] for r in farm_rows] == [f"{f['name']} (#{f['id']})" for f in farms]
    node_rows = ui.rows("Nodes")
    assert [r[0] for r in node_rows] == [f"node {i}" for i in nodes]
    countries = {"BE": "Belgium", "NL": "Netherlands", "DE": "Germany"}
    for row, node in zip(node_rows, nodes.values(), strict=True):
        code = node["location"]["country"]
        assert row[2].endswith(f"({code})") and countries[code] in row[2]
        assert row[3] == node["location"]["city"]
    ui.shot("farms")

    # Farm 1's settled epochs, each as its settling block paid it.
    rewards = {e["epoch"]: e for e in ui.api("/v1/farms/1/rewards?epochs=20")["epochs"]}
    ui.open("farm/1", re.compile(r"^Farm "))
    epochs = ui.rows("Earnings per epoch")
    assert epochs and len(epochs) <= len(rewards) + 1
    for row in epochs:
        epoch = int(row[0])
        if epoch in rewards:
            assert row[1] == str(rewards[epoch]["height"])
            assert row[5] == credits(rewards[epoch]["total"])
    assert any(row[5] != credits(0) for row in epochs)
    ui.shot("farm")

    node = nodes[1]
    ui.open("node/1", "Node 1")
    assert ui.field("Country") == f"Belgium ({node['location']['country']})"
    assert ui.field("City") == node["location"]["city"]
    assert ui.field("Runs") == "containers, gateway for gw.localhost"
    lines = {e["epoch"]: line for e in rewards.values() for line in e["lines"] if line["node"] == 1}
    for row in ui.rows("Earnings per epoch"):
        epoch = int(row[0])
        if epoch in lines:
            assert row[4] == f"{lines[epoch]['uptime_bp'] / 100:.2f}\u00a0%"
            assert row[5] == credits(lines[epoch]["amount"])
    ui.shot("node")


def test_workloads_with_their_replicas_countries_and_moves(explorer: Explorer) -> None:
    ui = explorer
    listed = ui.api("/v1/workloads")["workloads"]
    (workload,) = [w for w in listed if w["name"] == NAME]
    (now,) = workload["deployment"]["replicas"]
    (move,) = now["history"]
    country = {"NL": "Netherlands", "DE": "Germany"}[now["country"]]

    ui.open("workloads", "Workloads")
    (row,) = [r for r in ui.rows("Workloads") if r[0] == f"{NAME} (#{workload['id']})"]
    assert row[1] == "authorized" and row[2] == "placed"
    assert row[4] == f"node {now['node']}" and row[5] == country and row[6] == "1"
    ui.shot("workloads")

    link = ui.page.get_by_role("link", name=f"{NAME} (#{workload['id']})")
    ui.follow(link, f"workload/{workload['id']}", f"Workload {NAME}")
    (replica,) = ui.rows("Replicas")
    assert replica[1] == f"node {now['node']}" and replica[2].endswith(f"({now['country']})")
    (moved,) = ui.rows("Moves")
    assert moved[1] == f"node {move['node']}" and moved[2] == str(move["left"])
    assert moved[3] == move["reason"] and f"node {move['node']} down" in moved[3]
    ui.shot("workload")


def test_the_map_shows_the_farmers_countries(explorer: Explorer) -> None:
    ui = explorer
    nodes = ui.api("/v1/nodes")["nodes"]
    countries = {n["location"]["country"] for n in nodes}
    assert countries == {"BE", "NL", "DE"}
    workloads = ui.api("/v1/workloads")["workloads"]
    running = {
        r["country"]
        for w in workloads
        for r in (w["deployment"] or {}).get("replicas", [])
        if r["node"]
    }
    ui.open("map", "Map")
    svg = ui.page.locator("svg.world")
    expect(svg).to_be_visible()
    highlighted = svg.locator("path.country.has-nodes")
    assert {
        highlighted.nth(i).get_attribute("data-country") for i in range(highlighted.count())
    } == countries
    assert svg.locator("path.country").count() > 150  # the world's shapes, from the app's folder
    markers = svg.locator("g.marker")
    shown = {
        markers.nth(i).get_attribute("data-country"): markers.nth(i) for i in range(markers.count())
    }
    assert set(shown) == countries
    for code, marker in shown.items():
        here = [n for n in nodes if n["location"]["country"] == code]
        assert marker.get_attribute("data-nodes") == str(len(here))
        assert marker.get_attribute("data-workloads") == ("1" if code in running else "0")
    rows = ui.rows("Countries with farm nodes")
    assert sorted(r[0] for r in rows) == ["Belgium", "Germany", "Netherlands"]
    ui.shot("map")


FIRST_USE = (
    "✓ consistent with this node's own genesis (pinned on first use; paste the hash from your "
    "genesis file to verify independently)"
)
VERIFIED = "✓ verified: in the log the trusted chain certified"
LISTING = re.compile(r"/v1/audit/entries\?")  # the list, not an entry's proof
CONTRACT_LISTING = re.compile(r"/v1/audit/contracts/[0-9a-f]+/entries\?")


def test_verify_passes_for_a_real_entry_and_fails_for_a_tampered_one(
    explorer: Explorer,
) -> None:
    ui = explorer
    genesis = ui.api("/v1/blocks/0")["header"]["hash"]
    ui.open("audit", "Audit log")
    # Trust on first use: this node's block 0, pinned and labelled so.
    expect(ui.page.locator("#trusted-hash")).to_have_text(genesis)
    expect(ui.page.locator("#trust-source")).to_contain_text("trusted on first use")
    stored = ui.page.evaluate("localStorage.getItem('gridchain.explorer.trusted-genesis')")
    assert json.loads(stored)["hash"] == genesis

    entries = ui.page.locator("table tbody tr[data-index]")
    expect(entries.first).to_be_visible()
    index = int(str(entries.first.get_attribute("data-index")))
    # All its steps pass, but from a hash this node gave: only consistent with this node.
    verdict = verify(ui, index)
    expect(verdict).to_have_attribute("data-verdict", "ok", timeout=60_000)
    expect(verdict).to_have_text(FIRST_USE)
    expect(verdict).to_have_attribute("data-trust", "first-use")
    steps = ui.page.locator(f"tr[data-steps-for='{index}'] li[data-step]")
    done = {steps.nth(i).get_attribute("data-step"): steps.nth(i) for i in range(steps.count())}
    assert set(done) == {"leaf", "inclusion", "header", "light_path", "certificate", "row"}
    assert all(step.get_attribute("data-ok") == "true" for step in done.values())

    # The auditor pastes the genesis header's hash they hold: now it is verified.
    ui.page.get_by_label("Genesis header hash").fill(genesis)
    ui.page.get_by_role("button", name="Trust this hash").click()
    expect(ui.page.locator("#trust-source")).to_contain_text("pasted by you")
    expect(ui.page.locator("#trusted-hash")).to_have_attribute("data-source", "pasted")
    expect(ui.page.get_by_role("alert")).to_have_count(0)
    verdict = verify(ui, index)
    expect(verdict).to_have_attribute("data-verdict", "ok", timeout=60_000)
    expect(verdict).to_have_text(VERIFIED)
    expect(verdict).to_have_attribute("data-trust", "pasted")
    ui.shot("audit-verified")

    # A node that flips a byte of the entry: its leaf no longer matches.
    ui.page.route(f"**/v1/audit/entries/{index}/proof*", flip_a_byte)
    verdict = verify(ui, index)
    expect(verdict).to_have_attribute("data-verdict", "failed", timeout=60_000)
    assert failed_step(ui, index) == "leaf"

    # A node that forges an entry and its leaf hash consistently: the proof does not hold.
    ui.page.unroute(f"**/v1/audit/entries/{index}/proof*")
    ui.page.route(f"**/v1/audit/entries/{index}/proof*", forge_the_entry)
    verdict = verify(ui, index)
    expect(verdict).to_have_attribute("data-verdict", "failed", timeout=60_000)
    assert failed_step(ui, index) == "inclusion"
    ui.shot("audit-tampered")
    ui.page.unroute(f"**/v1/audit/entries/{index}/proof*")

    # A node that lists the entry with another topic and serves the real entry's proof: the
    # proof verifies, but not what the row showed; verify fails naming it, the row is redrawn.
    real = ui.api(f"/v1/audit/entries/{index}/proof")["entry"]
    ui.page.route(LISTING, lambda route: relist(route, index, topic="forged_topic"))
    ui.open(f"audit?start={index}", "Audit log")  # the page that lists it, however long the log
    row = ui.page.locator(f"table tbody tr[data-index='{index}']")
    expect(row.locator("td").nth(4)).to_have_text("forged_topic")
    verdict = verify(ui, index)
    expect(verdict).to_have_attribute("data-verdict", "failed", timeout=60_000)
    expect(verdict).to_contain_text("failed verification: the row's topic is not the verified")
    assert failed_step(ui, index) == "row"
    detail = ui.page.locator(f"tr[data-steps-for='{index}'] li[data-step='row']")
    expect(detail).to_contain_text(
        f'the row\'s topic is "forged_topic", the verified entry\'s "{real["topic"]}"'
    )
    expect(row).to_have_attribute("data-shown", "verified")
    expect(row.locator("td").nth(4)).to_have_text(real["topic"])
    ui.shot("audit-row-mismatch")

    # The same with another data: named too.
    ui.page.unroute(LISTING)
    ui.page.route(LISTING, lambda route: relist(route, index, data="a0"))
    ui.page.reload()
    ui.rendered(f"#/audit?start={index}", "Audit log")
    verdict = verify(ui, index)
    expect(verdict).to_have_attribute("data-verdict", "failed", timeout=60_000)
    expect(verdict).to_contain_text("failed verification: the row's data is not the verified")
    assert failed_step(ui, index) == "row"
    ui.page.unroute(LISTING)
    ui.open("audit", "Audit log")

    # Another trusted genesis header (an auditor's pasted hash of another chain): refused.
    ui.page.get_by_label("Genesis header hash").fill("ab" * 32)
    ui.page.get_by_role("button", name="Trust this hash").click()
    expect(ui.page.locator("#trust-source")).to_contain_text("pasted by you")
    expect(ui.page.get_by_role("alert")).to_contain_text("not the one you trust")
    verdict = verify(ui, index)
    expect(verdict).to_have_attribute("data-verdict", "failed", timeout=60_000)
    assert failed_step(ui, index) == "light_path"

    # One contract's entries: the workload contract's.
    contract = ui.api("/v1/workloads?limit=1")["contract"]
    link = ui.page.get_by_role("link", name="the workload contract")
    ui.follow(link, f"audit/{contract}", "Audit log")
    rows = ui.rows("Entries of the contract")
    assert rows and all(r[3] == f"{contract[:10]}…{contract[-6:]}" for r in rows)
    api_rows = ui.api(f"/v1/audit/contracts/{contract}/entries?limit=25")["entries"]
    assert [r[0] for r in rows] == [str(e["index"]) for e in api_rows[: len(rows)]]
    assert [r[4] for r in rows] == [e["topic"] for e in api_rows[: len(rows)]]

    # A node that lists the workload contract's real entry among the entries of an account
    # that emitted none: every cell is that entry's, and it verifies, but it is not this
    # account's.
    ui.page.get_by_label("Genesis header hash").fill(genesis)
    ui.page.get_by_role("button", name="Trust this hash").click()
    expect(ui.page.locator("#trusted-hash")).to_have_text(genesis)
    other = api_rows[0]
    ui.page.route(CONTRACT_LISTING, lambda route: smuggle(route, other))
    ui.open(f"audit/{FRESH}", "Audit log")
    (smuggled,) = ui.rows("Entries of the contract")
    assert smuggled[0] == str(other["index"]) and smuggled[4] == other["topic"]
    verdict = verify(ui, other["index"])
    expect(verdict).to_have_attribute("data-verdict", "failed", timeout=60_000)
    expect(verdict).to_contain_text("the verified entry is another contract's")
    assert failed_step(ui, other["index"]) == "row"
    ui.page.unroute(CONTRACT_LISTING)


def verify(ui: Explorer, index: int) -> Any:
    """Click the entry's Verify button; its verdict's element."""
    row = ui.page.locator(f"table tbody tr[data-index='{index}']")
    row.get_by_role("button", name=f"Verify entry {index}").click()
    return row.locator(".verdict")


def failed_step(ui: Explorer, index: int) -> str:
    """The step the verification of entry `index` failed at (the one step listed failing)."""
    failed = ui.page.locator(f"tr[data-steps-for='{index}'] li[data-ok='false']")
    expect(failed).to_have_count(1)
    return str(failed.get_attribute("data-step"))


def flip_a_byte(route: Route) -> None:
    response = route.fetch()
    body = response.json()
    raw = bytearray.fromhex(body["entry_bytes"])
    raw[-1] ^= 0x01
    body["entry_bytes"] = raw.hex()
    route.fulfill(response=response, json=body)


def forge_the_entry(route: Route) -> None:
    """The entry's topic changed, with its bytes, view and leaf hash all made to agree."""
    response = route.fetch()
    body = response.json()
    real = decode_entry(bytes.fromhex(body["entry_bytes"]))
    forged = AuditEntry(
        real.height, real.tx_index, real.tx_id, real.contract, real.topic + "x", real.data
    )
    body["entry_bytes"] = encode_entry(forged).hex()
    body["entry"] = {
        "index": body["index"],
        **entry_to_json(forged),
        "leaf_hash": entry_leaf(forged).hex(),
    }
    route.fulfill(response=response, json=body)


def relist(route: Route, index: int, **shown: str) -> None:
    """The entries list with entry `index` showing `shown` instead of its own fields."""
    response = route.fetch()
    body = response.json()
    (entry,) = [e for e in body["entries"] if e["index"] == index]
    entry.update(shown)
    route.fulfill(response=response, json=body)


def smuggle(route: Route, other: dict[str, Any]) -> None:
    """An account's entries with `other`, an entry another contract emitted, listed first."""
    response = route.fetch()
    body = response.json()
    body["entries"] = [other, *body["entries"]]
    route.fulfill(response=response, json=body)
