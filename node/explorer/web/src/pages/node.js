// One farm node: where it is, what it declared, whether it is up, what it did this epoch, what
// each settled epoch paid for it, and the replicas placed on it
// (GET /v1/nodes/{id}, /v1/nodes/{id}/replicas, /v1/farms/{farm}/rewards).
import { fetchJson } from "../api.js";
import { h, code, section, table, fields } from "../html.js";
import { bytes, cores, country, credits, number, percent } from "../format.js";
import { accountLink, blockLink, farmLink, workloadLink } from "../links.js";
import { heading } from "./common.js";
import { status } from "./farms.js";

export default async function node({ parts }) {
  const id = parts[0] || "";
  const [view, replicas, standard] = await Promise.all([
    fetchJson(`/v1/nodes/${encodeURIComponent(id)}`),
    fetchJson(`/v1/nodes/${encodeURIComponent(id)}/replicas`),
    fetchJson("/v1/workloads?limit=1"),
  ]);
  const rewards = await fetchJson(`/v1/farms/${view.farm}/rewards?epochs=20`);
  const loc = view.location;
  const res = view.resources;
  const caps = view.capabilities;
  const a = view.activity;
  const lines = rewards.epochs.flatMap((e) =>
    e.lines.filter((l) => l.node === view.id).map((l) => ({ ...l, height: e.height })),
  );
  return [
    ...heading(`Node ${view.id}`, `${country(loc.country)}, ${loc.city}`),
    section(
      "Node",
      fields([
        ["Farm", farmLink(view.farm)],
        ["Status", status(view.status)],
        ["Last heartbeat in", view.last_seen === null ? "never" : blockLink(view.last_seen)],
        view.down ? ["Marked down at", blockLink(view.down.since)] : null,
        ["Country", country(loc.country)],
        ["City", loc.city],
        ["Coordinates", `${(loc.latitude / 1e6).toFixed(4)}, ${(loc.longitude / 1e6).toFixed(4)}`],
        [
          "Declared",
          `${number(res.cores)} cores, ${number(res.memory_mb)} MB memory, ${number(res.ssd_gb)} GB SSD, ${number(res.hdd_gb)} GB HDD`,
        ],
        [
          "Runs",
          [
            caps.container ? "containers" : null,
            caps.vm ? "virtual machines" : null,
            caps.gateway ? `gateway for ${caps.gateway}` : null,
          ]
            .filter(Boolean)
            .join(", ") || "nothing (farms only)",
        ],
        ["Registered at", blockLink(view.registered_height)],
        ["Key", code(view.key)],
      ]),
    ),
    a
      ? section(
          `This epoch (${a.epoch})`,
          fields([
            ["Heartbeats", number(a.heartbeats)],
            ["Storage proofs", `${number(a.proofs)} (${bytes(a.space)} of plots)`],
            ["Compute challenge", a.compute],
            [
              "So far it would earn",
              view.projected ? credits(view.projected.amount) : "nothing yet",
            ],
          ]),
        )
      : null,
    section(
      "Earnings per epoch",
      table(
        "Earnings per epoch",
        ["Epoch", "Paid in block", "Storage proven", "Compute proven", "Uptime", "Earned"],
        lines.map((l) => ({
          attrs: { "data-epoch": l.epoch },
          cells: [
            String(l.epoch),
            blockLink(l.height),
            bytes(l.storage_bytes),
            cores(l.compute_milli_cores),
            percent(l.uptime_bp),
            credits(l.amount),
          ],
        })),
        "no epoch settled yet",
      ),
    ),
    section(
      "Replicas",
      table(
        "Replicas placed on the node",
        ["Workload", "Replica", "Version", "State", "Endpoint", "Billed until"],
        replicas.replicas.map((r) => [
          r.contract === standard.contract
            ? workloadLink(r.workload_id)
            : [accountLink(r.contract), ` workload ${r.workload_id}`],
          `${r.workload} #${r.index}`,
          number(r.version),
          h(
            "span",
            { class: `status status-${r.state}` },
            r.paused ? `${r.state} (paused)` : r.state,
          ),
          r.endpoint || "—",
          blockLink(r.billed_until),
        ]),
        "no replicas",
      ),
    ),
  ];
}
