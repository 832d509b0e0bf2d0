// One farm: its owner and bond, its nodes, and what it earned each settled epoch
// (GET /v1/farms/{id}, /v1/nodes?farm=, /v1/farms/{id}/rewards).
import { fetchAll, fetchJson } from "../api.js";
import { h, section, table, fields } from "../html.js";
import { bytes, cores, credits, number } from "../format.js";
import { accountLink, blockLink } from "../links.js";
import { heading } from "./common.js";
import { nodesTable } from "./farms.js";

const FARM_PAGES = 10_000; // pages of 1,000 node ids: ten million nodes

export default async function farm({ parts }) {
  const id = parts[0] || "";
  const [view, nodes, rewards] = await Promise.all([
    fetchJson(`/v1/farms/${encodeURIComponent(id)}`),
    // Each answer looks at up to 1,000 node ids whatever farm they are of, so pages of other
    // farms' nodes come back empty: page on to the end (next_start null), not 20 pages.
    fetchAll(
      `/v1/nodes?limit=100&farm=${encodeURIComponent(id)}`,
      "nodes",
      "next_start",
      "start",
      FARM_PAGES,
    ),
    fetchJson(`/v1/farms/${encodeURIComponent(id)}/rewards?epochs=20`),
  ]);
  const sum = (lines, key) => lines.reduce((total, line) => total + line[key], 0);
  return [
    ...heading(`Farm ${view.name}`, `farm ${view.id}`),
    section(
      "Farm",
      fields([
        ["Owner", accountLink(view.owner)],
        ["Paid to", accountLink(view.payout)],
        ["Bond", credits(view.bond)],
        ["Nodes", number(view.node_ids.length)],
        [
          "Last slashed",
          view.slashed_epoch === null ? "never" : `epoch ${number(view.slashed_epoch)}`,
        ],
      ]),
    ),
    section(
      "Nodes",
      h("p", {}, "Uptime, storage, compute and earned: the last settled epoch's."),
      nodesTable("Nodes of the farm", nodes),
    ),
    section(
      "Earnings per epoch",
      table(
        "Earnings per epoch",
        ["Epoch", "Paid in block", "Nodes paid", "Storage proven", "Compute proven", "Earned"],
        rewards.epochs.map((e) => ({
          attrs: { "data-epoch": e.epoch },
          cells: [
            String(e.epoch),
            blockLink(e.height),
            number(e.lines.length),
            bytes(sum(e.lines, "storage_bytes")),
            cores(sum(e.lines, "compute_milli_cores")),
            credits(e.total),
          ],
        })),
        "no epoch settled yet",
      ),
    ),
  ];
}
