// One workload: what its signers authorized (spec, signers, who signed), what the chain did with
// it (replicas on nodes in countries, gateway names) and its history: every node a replica
// left, when and why (GET /v1/workloads/{id}).
import { fetchJson } from "../api.js";
import { h, code, link, section, table, fields } from "../html.js";
import { country, credits, number } from "../format.js";
import { accountLink, blockLink, href, nodeLink } from "../links.js";
import { heading, raw } from "./common.js";
import { stateBadge } from "./workloads.js";

export default async function workload({ parts }) {
  const id = parts[0] || "";
  const view = await fetchJson(`/v1/workloads/${encodeURIComponent(id)}`);
  const d = view.deployment;
  const moves = d
    ? d.replicas
        .flatMap((r) => r.history.map((m) => ({ ...m, replica: `${r.workload} #${r.index}` })))
        .sort((a, b) => a.left - b.left)
    : [];
  return [
    ...heading(`Workload ${view.name || view.id}`, `workload ${view.id} of the workload contract`),
    section(
      "Contract",
      fields([
        ["State", stateBadge(view.state)],
        ["Version", number(view.version)],
        ["Owner", accountLink(view.owner)],
        ["Contract", accountLink(view.contract)],
        [
          "Signatures",
          `${number(view.signers.filter((s) => s.signed).length)} of ${number(view.signers.length)} signers, threshold ${number(view.threshold)}`,
        ],
        ["Audit log", link(href.audit(view.contract), "the workload contract's entries")],
      ]),
      table(
        "Signers",
        ["Public key", "Weight", "Required", "Signed this version"],
        view.signers.map((s) => [
          code(s.public_key),
          number(s.weight),
          s.required ? "yes" : "no",
          s.signed ? "yes" : "no",
        ]),
      ),
      raw(view.spec, "Spec"),
    ),
    d
      ? section(
          "Deployment",
          fields([
            ["State", stateBadge(d.state)],
            d.message ? ["Why", d.message] : null,
            ["Authorized at", blockLink(d.requested)],
            ["Escrow", credits(d.escrow)],
            ["Paused since", d.grace_since ? blockLink(d.grace_since) : "not paused"],
            ["Placement seed", d.seed ? code(d.seed) : "—"],
          ]),
          table(
            "Replicas",
            ["Replica", "Node", "Country", "State", "Since", "Endpoint", "Failures", "Moves"],
            d.replicas.map((r) => ({
              attrs: { "data-replica": `${r.workload}-${r.index}` },
              cells: [
                `${r.workload} #${r.index}`,
                nodeLink(r.node),
                country(r.country),
                stateBadge(r.state),
                blockLink(r.since),
                r.endpoint || "—",
                number(r.failures),
                number(r.history.length),
              ],
            })),
            "no replicas",
          ),
          d.routes.length
            ? table(
                "Gateway names",
                ["Name", "Host", "Gateway node"],
                d.routes.map((r) => [
                  r.name,
                  r.url ? link(r.url, r.host) : r.message || "—",
                  nodeLink(r.node),
                ]),
              )
            : null,
        )
      : section("Deployment", h("p", {}, "Not deployed: no version has been authorized yet.")),
    section(
      "History",
      h(
        "p",
        {},
        "Each node a replica left (the last 8 per replica; the audit log has every one): the last height it ran there and why it moved.",
      ),
      table(
        "Moves",
        ["Replica", "Left node", "At height", "Why"],
        moves.map((m) => ({
          attrs: { "data-node": m.node },
          cells: [m.replica, nodeLink(m.node), blockLink(m.left), m.reason],
        })),
        "no moves",
      ),
    ),
  ];
}
