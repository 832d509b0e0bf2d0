// The validators: blockstake and its share, the share of the downtime window each signed, the
// jailed with when they may return, the council's pending changes (GET /v1/validators).
import { fetchJson } from "../api.js";
import { h, code, section, table } from "../html.js";
import { number, percent } from "../format.js";
import { blockLink } from "../links.js";
import { heading, meter, raw } from "./common.js";

export default async function validators() {
  const view = await fetchJson("/v1/validators");
  const total = view.total_blockstake;
  const active = view.validators.map((v) => ({
    attrs: { "data-key": v.public_key },
    cells: [
      v.name,
      code(v.public_key),
      number(v.blockstake),
      percent(total ? Math.floor((v.blockstake * 10000) / total) : null),
      uptime(v.uptime),
      v.uptime ? `${number(v.uptime.missed)} of ${number(v.uptime.tracked)}` : "—",
      h("span", { class: "status status-up" }, "active"),
    ],
  }));
  const jailed = view.jailed.map((j) => ({
    attrs: { "data-key": j.public_key },
    cells: [
      j.name,
      code(j.public_key),
      number(j.blockstake),
      j.tombstoned
        ? "never (tombstoned: it signed two blocks at one height)"
        : blockLink(j.jailed_until),
      h("span", { class: "status status-down" }, j.tombstoned ? "tombstoned" : "jailed"),
    ],
  }));
  return [
    ...heading(
      "Validators",
      `${number(view.validators.length)} active, ${number(total)} blockstake, at height ${view.height}`,
    ),
    section(
      "Active set",
      h(
        "p",
        {},
        `Uptime is the share of the last ${number(view.downtime_window)} heights (the downtime window) whose finality certificate the validator signed.`,
      ),
      table(
        "Active validators",
        ["Name", "Public key", "Blockstake", "Share", "Uptime", "Missed", "State"],
        active,
      ),
    ),
    section(
      "Jailed",
      table(
        "Jailed validators",
        ["Name", "Public key", "Blockstake", "Jailed until", "State"],
        jailed,
        "none jailed",
      ),
    ),
    view.pending.length
      ? section("Pending council changes", raw(view.pending, `${view.pending.length} changes`))
      : null,
  ];
}

function uptime(u) {
  if (!u || u.signed_bp === null) return "—";
  return [meter(u.signed_bp), " ", percent(u.signed_bp)];
}
