// The shared vectors (tests/vectors/explorer.json, made by the Python rules) and helpers the
// verifier's tests use. Not a test itself.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

export const VECTORS = JSON.parse(
  readFileSync(new URL("../../../../tests/vectors/explorer.json", import.meta.url), "utf8"),
);

/** The bytes of hex. */
export const bytes = (hex) => Uint8Array.from(Buffer.from(hex, "hex"));
/** The hex of bytes. */
export const hex = (data) => Buffer.from(data).toString("hex");

/** A value of the encoding's profile from its typed JSON form (tests/vectors/explorer.py). */
export function fromTyped(typed) {
  const [[kind, value]] = Object.entries(typed);
  switch (kind) {
    case "int":
      return BigInt(value);
    case "bytes":
      return bytes(value);
    case "text":
    case "bool":
      return value;
    case "list":
      return value.map(fromTyped);
    case "map":
      return Object.fromEntries(value.map(([key, item]) => [key, fromTyped(item)]));
  }
  throw new Error(`unknown typed value ${kind}`);
}

/** Deep equality of decoded values: integers by value (Number or BigInt), maps by content. */
export function sameValue(a, b) {
  const integer = (x) => typeof x === "bigint" || typeof x === "number";
  if (integer(a) && integer(b)) return BigInt(a) === BigInt(b);
  if (a instanceof Uint8Array && b instanceof Uint8Array) return hex(a) === hex(b);
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => sameValue(item, b[i]));
  }
  if (typeof a === "object" && typeof b === "object" && a !== null && b !== null) {
    const keys = Object.keys(a).sort();
    return (
      sameValue(keys, Object.keys(b).sort()) && keys.every((key) => sameValue(a[key], b[key]))
    );
  }
  return a === b;
}

/** `check` throws the Python error of the vector: its code and its message. */
export function throwsRule(check, error) {
  assert.throws(check, (err) => {
    assert.equal(err.code, error.code, `${err.message}`);
    assert.equal(err.message, error.message);
    return true;
  });
}

/** `check` passes or throws as the vector's verdict says. */
export function meetsVerdict(check, vector) {
  if (vector.ok) check();
  else throwsRule(check, vector.error);
}
