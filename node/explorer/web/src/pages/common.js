// What several pages share: the validators' names by key, and the lines of a heading.
import { fetchJson } from "../api.js";
import { h } from "../html.js";

// Public key (hex) -> name, of the active and the jailed validators.
export async function validatorNames() {
  const view = await fetchJson("/v1/validators");
  const names = new Map();
  for (const v of [...view.validators, ...view.jailed]) names.set(v.public_key, v.name);
  return names;
}

export function heading(title, subtitle = null) {
  return [h("h1", {}, title), subtitle ? h("p", { class: "subtitle" }, subtitle) : null];
}

// A JSON value shown as it is, for the parts of an answer no table is made for.
export function raw(value, label) {
  return h(
    "details",
    { class: "raw" },
    h("summary", {}, label),
    h("pre", {}, JSON.stringify(value, null, 2)),
  );
}

// A share in basis points as a bar beside its number (the number is what is read out).
export function meter(bp) {
  return h("meter", {
    min: 0,
    max: 10000,
    low: 9000,
    optimum: 10000,
    value: bp,
    "aria-hidden": "true",
  });
}
