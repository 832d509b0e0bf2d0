// Farms and their nodes: what each proved (storage, compute), its uptime and what it earned in
// the last settled epoch, and so far in the running one (GET /v1/farms, /v1/nodes).
import { fetchAll } from "../api.js";
import { h, section, table } from "../html.js";
import { bytes, cores, country, credits, number, percent } from "../format.js";
import { accountLink, farmLink, nodeLink } from "../links.js";
import { heading } from "./common.js";

export function status(text) {
  return h("span", { class: `status status-${text}` }, text);
}

export function nodesTable(caption, nodes) {
  return table(
    caption,
    [
      "Node",
      "Farm",
      "Country",
      "City",
      "Status",
      "Uptime (last epoch)",
      "Storage proven",
      "Compute proven",
      "Earned (last epoch)",
      "This epoch so far",
      "Replicas",
    ],
    nodes.map((n) => ({
      attrs: { "data-node": n.id },
      cells: [
        nodeLink(n.id),
        farmLink(n.farm, n.farm_name),
        country(n.location.country),
        n.location.city,
        status(n.status),
        percent(n.last_epoch?.uptime_bp),
        bytes(n.last_epoch?.storage_bytes),
        cores(n.last_epoch?.compute_milli_cores),
        credits(n.last_epoch?.amount),
        n.projected
          ? `${credits(n.projected.amount)} (${number(n.activity?.heartbeats)} heartbeats)`
          : "—",
        number(n.replicas),
      ],
    })),
    "no nodes",
  );
}

export default async function farms() {
  const [farmList, nodes] = await Promise.all([
    fetchAll("/v1/farms?limit=100", "farms", "next_start", "start"),
    fetchAll("/v1/nodes?limit=100", "nodes", "next_start", "start"),
  ]);
  const rows = farmList.map((f) => ({
    attrs: { "data-farm": f.id },
    cells: [
      farmLink(f.id, f.name),
      accountLink(f.owner),
      `${number(f.node_ids.length)} (${number(f.nodes_up)} up, ${number(f.nodes_down)} down)`,
      credits(f.bond),
      bytes(f.last_epoch?.storage_bytes),
      cores(f.last_epoch?.compute_milli_cores),
      credits(f.last_epoch?.amount),
      credits(f.projected?.amount),
    ],
  }));
  return [
    ...heading("Farms", `${number(farmList.length)} farms, ${number(nodes.length)} nodes`),
    section(
      "Farms",
      h(
        "p",
        {},
        "The last epoch is the last one settled: its first block after it paid each farm for what its nodes proved.",
      ),
      table(
        "Farms",
        [
          "Farm",
          "Owner",
          "Nodes",
          "Bond",
          "Storage proven (last epoch)",
          "Compute proven (last epoch)",
          "Earned (last epoch)",
          "This epoch so far",
        ],
        rows,
        "no farms",
      ),
    ),
    section("Nodes", nodesTable("Nodes", nodes)),
  ];
}
