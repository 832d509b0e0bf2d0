// One block by height or hash: its header, transactions, the certificate that finalized it
// (and the one it carries for its parent), evidence (GET /v1/blocks/{ref}).
import { fetchJson } from "../api.js";
import { h, code, link, section, table, fields, pager } from "../html.js";
import { credits, number, time } from "../format.js";
import { accountLink, blockLink, hashLink, href } from "../links.js";
import { heading, raw, validatorNames } from "./common.js";

export function signersList(commit, names) {
  if (!commit) return "—";
  const keys = commit.validators || [];
  return h(
    "ul",
    { class: "inline" },
    keys.map((key) => h("li", {}, names.get(key) || code(key))),
  );
}

export function txRows(txs) {
  return txs.map((tx) => [
    hashLink(href.tx(tx.id), tx.id),
    tx.type,
    accountLink(tx.sender),
    number(tx.nonce),
    credits(tx.fee),
  ]);
}

export default async function block({ parts }) {
  const ref = parts[0] || "latest";
  const [view, names] = await Promise.all([
    fetchJson(`/v1/blocks/${encodeURIComponent(ref)}`),
    validatorNames(),
  ]);
  const header = view.header;
  return [
    ...heading(`Block ${header.height}`, time(header.time_ms)),
    pager([
      header.height > 0 ? [href.block(header.height - 1), "Previous block"] : null,
      [href.block(header.height + 1), "Next block"],
    ]),
    section(
      "Header",
      fields([
        ["Height", String(header.height)],
        ["Hash", code(header.hash, false)],
        [
          "Parent",
          header.height > 0 ? link(href.block(header.prev_hash), code(header.prev_hash)) : "—",
        ],
        ["Time", time(header.time_ms)],
        [
          "Proposer",
          names.get(header.proposer)
            ? [names.get(header.proposer), " ", code(header.proposer)]
            : code(header.proposer),
        ],
        ["Transactions", number(header.tx_count)],
        ["Transaction root", code(header.tx_root)],
        ["State root", code(header.state_root)],
        ["Audit log", [`${number(header.audit_size)} entries, root `, code(header.audit_root)]],
        ["Validator set", code(header.validators_hash)],
        ["Next validator set", code(header.next_validators_hash)],
        ["Rewards root", code(header.rewards_root)],
        ["Chain", header.chain_id],
        ["Release", header.version || "—"],
      ]),
    ),
    section(
      "Transactions",
      table(
        "Transactions",
        ["Id", "Type", "Sender", "Nonce", "Fee"],
        txRows(view.txs),
        "no transactions",
      ),
    ),
    section(
      "Finality",
      fields([
        ["Finalized by", signersList(view.commit, names)],
        ["Certificate round", view.commit ? number(view.commit.round) : "—"],
        ["Carries the parent's certificate, signed by", signersList(view.last_commit, names)],
      ]),
    ),
    view.evidence.length
      ? section("Evidence", raw(view.evidence, `${view.evidence.length} pieces of evidence`))
      : null,
    h("p", {}, link(href.audit(), "Audit log"), " · ", blockLink(header.height)),
  ];
}
