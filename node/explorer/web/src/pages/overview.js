// The chain at a glance: its head, its validators, farms and workloads, the audit log's size,
// and the latest blocks.
import { fetchJson } from "../api.js";
import { h, link, code, section, fields } from "../html.js";
import { number, time } from "../format.js";
import { blockLink } from "../links.js";
import { blocksTable } from "./blocks.js";
import { heading, validatorNames } from "./common.js";

export default async function overview() {
  const [status, latest, validators, farms, nodes, workloads, audit, names] = await Promise.all([
    fetchJson("/v1/status"),
    fetchJson("/v1/blocks?limit=10"),
    fetchJson("/v1/validators"),
    fetchJson("/v1/farms?limit=100"),
    fetchJson("/v1/nodes?limit=100"),
    fetchJson("/v1/workloads?limit=1"),
    fetchJson("/v1/audit"),
    validatorNames(),
  ]);
  const up = nodes.nodes.filter((n) => n.status === "up").length;
  const more = nodes.next_start === null ? "" : "+";
  const farmCount = `${number(farms.farms.length)}${farms.next_start === null ? "" : "+"}`;
  return [
    ...heading("Overview", `chain ${status.chain_id}`),
    h(
      "div",
      { class: "cards" },
      card("Height", blockLink(status.height), time(status.time_ms)),
      card(
        "Validators",
        link("#/validators", number(validators.validators.length)),
        `${number(validators.jailed.length)} jailed`,
      ),
      card(
        "Farm nodes",
        link("#/farms", `${number(nodes.nodes.length)}${more}`),
        `${number(up)} up, in ${farmCount} farms`,
      ),
      card("Workloads", link("#/workloads", number(workloads.last_id)), "on the workload contract"),
      card("Audit log", link("#/audit", number(audit.size)), "entries"),
    ),
    section(
      "Node",
      fields([
        ["Chain", status.chain_id],
        ["Head block", code(status.block_hash)],
        ["State root", code(status.state_root)],
        ["First height held", number(status.base_height)],
        ["Mempool", `${number(status.mempool.txs)} transactions`],
        ["Software", status.version],
      ]),
    ),
    section(
      "Latest blocks",
      blocksTable("Latest blocks", latest.blocks, names),
      h("p", {}, link("#/blocks", "All blocks")),
    ),
  ];
}

function card(title, value, note) {
  return h(
    "div",
    { class: "card" },
    h("h2", {}, title),
    h("p", { class: "value" }, value),
    h("p", { class: "note" }, note),
  );
}
