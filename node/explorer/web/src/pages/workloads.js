// The workload contract's workloads, newest first: state, replicas, the nodes and countries they
// run on, how often they moved (GET /v1/workloads?before=&limit=).
import { fetchJson } from "../api.js";
import { h, section, table, pager } from "../html.js";
import { countryName, number } from "../format.js";
import { accountLink, nodeLink, workloadLink } from "../links.js";
import { intParam } from "../router.js";
import { heading } from "./common.js";

const PAGE = 25;

export function replicaSummary(deployment) {
  if (!deployment) return { running: "—", nodes: "—", countries: "—", moves: 0 };
  const replicas = deployment.replicas;
  const deployed = replicas.filter((r) => r.state === "deployed").length;
  const nodes = [...new Set(replicas.map((r) => r.node).filter(Boolean))];
  const countries = [...new Set(replicas.map((r) => r.country).filter(Boolean))].sort();
  return {
    running: `${number(deployed)} of ${number(replicas.length)} deployed`,
    nodes: nodes.length
      ? h(
          "ul",
          { class: "inline" },
          nodes.map((n) => h("li", {}, nodeLink(n))),
        )
      : "—",
    countries: countries.length ? countries.map(countryName).join(", ") : "—",
    moves: replicas.reduce((total, r) => total + r.history.length, 0),
  };
}

export function stateBadge(state) {
  return h("span", { class: `status status-${state}` }, state);
}

export default async function workloads({ query }) {
  const before = intParam(query, "before");
  const path =
    before === null
      ? `/v1/workloads?limit=${PAGE}`
      : `/v1/workloads?limit=${PAGE}&before=${before}`;
  const page = await fetchJson(path);
  const rows = page.workloads.map((w) => {
    const summary = replicaSummary(w.deployment);
    return {
      attrs: { "data-workload": w.id },
      cells: [
        workloadLink(w.id, w.name),
        stateBadge(w.state),
        w.deployment ? stateBadge(w.deployment.state) : "not deployed",
        summary.running,
        summary.nodes,
        summary.countries,
        number(summary.moves),
        accountLink(w.owner),
      ],
    };
  });
  return [
    ...heading("Workloads", `${number(page.last_id)} submitted to the workload contract`),
    section(
      "Workloads",
      h(
        "p",
        {},
        "A workload is authorized by its signers on the workload contract; the chain then places its replicas on farm nodes and moves them when a node goes down.",
      ),
      table(
        "Workloads",
        [
          "Workload",
          "Contract state",
          "Deployment",
          "Replicas",
          "Nodes",
          "Countries",
          "Moves",
          "Owner",
        ],
        rows,
        "no workloads",
      ),
    ),
    pager([
      before === null ? null : ["#/workloads", "Newest"],
      page.next_before === null ? null : [`#/workloads?before=${page.next_before}`, "Older"],
    ]),
  ];
}
