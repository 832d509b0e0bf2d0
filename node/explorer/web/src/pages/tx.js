// One transaction: where it is (pending, committed in a block, or refused and why), what it
// does, its receipt and signatures (GET /v1/txs/{id}).
import { fetchJson } from "../api.js";
import { h, code, section, table, fields } from "../html.js";
import { credits, number } from "../format.js";
import { accountLink, blockLink } from "../links.js";
import { heading, raw } from "./common.js";

export default async function tx({ parts }) {
  const id = parts[0] || "";
  const view = await fetchJson(`/v1/txs/${encodeURIComponent(id)}`);
  const body = view.tx;
  const receipt = view.receipt;
  return [
    ...heading("Transaction", id),
    section(
      "Status",
      fields([
        ["Status", h("span", { class: `status status-${view.status}` }, view.status)],
        ["Block", view.block ? blockLink(view.block.height) : "—"],
        view.error ? ["Refused", `${view.error.message} (${view.error.code})`] : null,
      ]),
    ),
    body
      ? section(
          "Body",
          fields([
            ["Type", body.type],
            ["Sender", accountLink(body.sender)],
            ["Nonce", number(body.nonce)],
            ["Fee", credits(body.fee)],
            ...payloadFields(body),
          ]),
          raw(body.payload, "Payload as the API gives it"),
        )
      : null,
    receipt
      ? section(
          "Receipt",
          fields([
            ["Result", receipt.status],
            ["Gas used", number(receipt.gas_used)],
            ["Fee paid", credits(receipt.fee)],
            receipt.created ? ["Created", accountLink(receipt.created)] : null,
            receipt.message ? ["Message", receipt.message] : null,
            receipt.return_value !== null
              ? ["Returned", h("code", {}, JSON.stringify(receipt.return_value))]
              : null,
          ]),
          table(
            "Events",
            ["Contract", "Topic", "Data"],
            receipt.events.map((e) => [accountLink(e.contract), e.topic, code(e.data)]),
            "no events",
          ),
        )
      : null,
    body
      ? section(
          "Signatures",
          table(
            "Signatures",
            ["Public key", "Signature"],
            body.signatures.map((s) => [code(s.public_key), code(s.signature)]),
          ),
        )
      : null,
  ];
}

function payloadFields(body) {
  const p = body.payload || {};
  switch (body.type) {
    case "transfer":
      return [
        ["To", accountLink(p.to)],
        ["Amount", credits(p.amount)],
      ];
    case "call":
      return [
        ["Contract", accountLink(p.contract)],
        ["Function", p.function],
        ["Value", credits(p.value)],
      ];
    default:
      return [];
  }
}
