// Farms and their nodes: what each proved (storage, compute), its uptime and what it earned in
// the last settled epoch, and so far in the running one (GET /v1/farms, /v1/nodes). A farm's
// row counts its nodes up and sums their projections from the nodes' list: the state keeps no
// list of a farm's nodes, so /v1/farms holds only what the farm records and the settling block
// do (how many nodes, what the last settled epoch paid).
import { fetchAll, fetchJson } from "../api.js";
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
      "Uptime",
      "Storage",
      "Compute",
      "Earned",
      "This epoch",
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
        credits(n.projected?.amount),
        number(n.replicas),
      ],
    })),
    "no nodes",
  );
}

// Per farm id: its nodes in `nodes`, how many of them are up, and what the running epoch would
// pay them so far (null while no epoch runs).
export function farmNodes(nodes, running) {
  const farms = new Map();
  for (const n of nodes) {
    if (!farms.has(n.farm)) farms.set(n.farm, { up: 0, projected: running ? 0 : null });
    const farm = farms.get(n.farm);
    if (n.status === "up") farm.up += 1;
    if (running) farm.projected += n.projected?.amount ?? 0;
  }
  return (id) => farms.get(id) ?? { up: 0, projected: running ? 0 : null };
}

export default async function farms() {
  const [farmList, nodes, first] = await Promise.all([
    fetchAll("/v1/farms?limit=100", "farms", "next_start", "start"),
    fetchAll("/v1/nodes?limit=100", "nodes", "next_start", "start"),
    fetchJson("/v1/farms?limit=1"),
  ]);
  const settled = first.settled_epoch === null ? "none yet" : `epoch ${first.settled_epoch}`;
  const ofFarm = farmNodes(nodes, first.epoch !== null);
  const rows = farmList.map((f) => ({
    attrs: { "data-farm": f.id },
    cells: [
      farmLink(f.id, f.name),
      accountLink(f.owner),
      `${number(ofFarm(f.id).up)} of ${number(f.nodes)}`,
      credits(f.bond),
      bytes(f.last_epoch?.storage_bytes),
      cores(f.last_epoch?.compute_milli_cores),
      credits(f.last_epoch?.amount),
      credits(ofFarm(f.id).projected),
    ],
  }));
  return [
    ...heading("Farms", `${number(farmList.length)} farms, ${number(nodes.length)} nodes`),
    section(
      "Farms",
      h(
        "p",
        {},
        `Storage and compute proven, uptime and credits earned are the last settled epoch's (${settled}): `,
        "the block that began the next epoch paid each farm for what its nodes proved. ",
        "This epoch: what the running epoch would pay so far.",
      ),
      table(
        "Farms",
        ["Farm", "Owner", "Nodes up", "Bond", "Storage", "Compute", "Earned", "This epoch"],
        rows,
        "no farms",
      ),
    ),
    section("Nodes", nodesTable("Nodes", nodes)),
  ];
}
