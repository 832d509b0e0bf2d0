// One box for a height, a block hash, a transaction id or an address: where it leads is
// decided by its shape, and a 64-hex id is asked for as a transaction first, then a block.
import { fetchOrNull } from "./api.js";
import { h } from "./html.js";
import { href } from "./links.js";

export async function destination(text) {
  const value = text.trim().toLowerCase();
  if (/^\d{1,18}$/.test(value)) return href.block(value);
  if (/^[0-9a-f]{64}$/.test(value)) {
    if (await fetchOrNull(`/v1/txs/${value}`)) return href.tx(value);
    return href.block(value);
  }
  if (/^[0-9a-f]{78}$/.test(value)) return href.account(value); // chain/address.py: TEXT_SIZE
  return null;
}

export function search() {
  const input = h("input", {
    id: "search",
    name: "q",
    type: "search",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "height, hash, tx id or address",
  });
  const status = h("span", { class: "search-status", role: "status" });
  const form = h(
    "form",
    {
      class: "search",
      role: "search",
      onsubmit: async (event) => {
        event.preventDefault();
        status.textContent = "";
        const target = await destination(input.value);
        if (target) window.location.hash = target;
        else status.textContent = "not a height, hash, id or address";
      },
    },
    h("label", { for: "search" }, "Search"),
    input,
    h("button", { type: "submit" }, "Go"),
    status,
  );
  return form;
}
