// One account: balance, nonce, its multisig policy, the state proof the node gives with it
// (GET /v1/accounts/{address}); a contract's code and a link to its audit entries besides.
import { fetchJson, fetchOrNull } from "../api.js";
import { h, code, link, section, table, fields } from "../html.js";
import { credits, number, bytes } from "../format.js";
import { blockLink, href } from "../links.js";
import { heading } from "./common.js";

const TYPES = { "01": "key", "02": "multisig", "03": "contract" }; // chain/address.py

export default async function account({ parts }) {
  const address = (parts[0] || "").toLowerCase();
  const view = await fetchJson(`/v1/accounts/${encodeURIComponent(address)}`);
  const kind = TYPES[address.slice(0, 2)] || "unknown";
  const contract = kind === "contract" ? await fetchOrNull(`/v1/contracts/${address}`) : null;
  return [
    ...heading(`Account`, address),
    section(
      "Balance",
      fields([
        ["Address", code(view.address, false)],
        ["Kind", kind],
        ["Exists", view.exists ? "yes" : "no (never funded)"],
        ["Balance", credits(view.balance)],
        ["Nonce", number(view.nonce)],
        ["Next nonce", `${number(view.next_nonce)} (counting pending transactions)`],
        ["Read at", blockLink(view.height)],
      ]),
    ),
    view.policy
      ? section(
          "Multisig policy",
          h("p", {}, `threshold ${number(view.policy.threshold)}`),
          table(
            "Signers",
            ["Public key", "Weight", "Required"],
            view.policy.signers.map((s) => [
              code(s.public_key),
              number(s.weight),
              s.required ? "yes" : "no",
            ]),
          ),
        )
      : null,
    contract
      ? section(
          "Contract",
          fields([
            ["Code size", bytes(contract.code_size)],
            ["Code sha256", code(contract.code_sha256)],
            [
              "Functions",
              h(
                "ul",
                { class: "inline" },
                contract.functions.map((f) =>
                  h("li", {}, h("code", {}, `${f.name}(${f.params.join(", ")})`)),
                ),
              ),
            ],
            ["Audit log", link(href.audit(address), "entries this contract emitted")],
          ]),
        )
      : null,
    section(
      "State proof",
      h(
        "p",
        {},
        "The node proves this account (or its absence) against the state root of the block it read it at.",
      ),
      fields([
        ["State root", code(view.state_root)],
        ["Block", code(view.block_hash)],
        ["State key", code(view.state_key)],
        ["Proof", `${number(view.proof.siblings.length)} siblings`],
      ]),
    ),
  ];
}
