// chain/blocks/header.py: a header's fields, its canonical value, and the one hash that names
// it: tagged_hash("gc/header", encode(header value)).
import { fromHex } from "./bytes.js";
import { encode, expectBytes, expectInt, expectMap, expectText } from "./encoding.js";
import { InvalidProof, pyRepr } from "./errors.js";
import { taggedHash } from "./hashing.js";

export const MAX_HEIGHT = 2n ** 63n - 1n;
const MAX_CHAIN_ID = 64;
const MAX_VERSION = 64;

/** Each field with how its decoded value is read (Python: header_from_value). */
const FIELDS = {
  chain_id: (v, name) => expectText(v, name, MAX_CHAIN_ID),
  height: (v, name) => expectInt(v, name, 0n, MAX_HEIGHT),
  prev_hash: (v, name) => expectBytes(v, name, 32),
  time_ms: (v, name) => expectInt(v, name, 0n, 2n ** 63n - 1n),
  proposer: (v, name) => expectBytes(v, name, 32),
  tx_root: (v, name) => expectBytes(v, name, 32),
  tx_count: (v, name) => expectInt(v, name, 0n, 2n ** 32n),
  state_root: (v, name) => expectBytes(v, name, 32),
  audit_root: (v, name) => expectBytes(v, name, 32),
  audit_size: (v, name) => expectInt(v, name, 0n, 2n ** 63n - 1n),
  validators_hash: (v, name) => expectBytes(v, name, 32),
  next_validators_hash: (v, name) => expectBytes(v, name, 32),
  last_commit_hash: (v, name) => expectBytes(v, name, 32),
  evidence_hash: (v, name) => expectBytes(v, name, 32),
  rewards_root: (v, name) => expectBytes(v, name, 32),
  version: (v, name) => expectText(v, name, MAX_VERSION),
};
export const HEADER_FIELDS = Object.keys(FIELDS);
const TEXT_FIELDS = new Set(["chain_id", "version"]);
const INT_FIELDS = new Set(["height", "time_ms", "tx_count", "audit_size"]);

/**
 * A header: its fields by their Python names; bytes as Uint8Array, integers as BigInt.
 * @typedef {Record<string, Uint8Array | bigint | string>} Header
 */

/** A header from its decoded canonical value (in a light block). @returns {Header} */
export function headerFromValue(value) {
  const f = expectMap(value, "header", HEADER_FIELDS);
  return Object.fromEntries(HEADER_FIELDS.map((name) => [name, FIELDS[name](f[name], name)]));
}

/**
 * A header from the node's JSON view of it (bytes in hex), so its hash is computed here
 * rather than trusted (Python: node/api/client.py header_from_json). @returns {Header}
 */
export function headerFromJson(view) {
  if (typeof view !== "object" || view === null || Array.isArray(view)) {
    throw new InvalidProof("block header is not a JSON object");
  }
  const header = {};
  for (const name of HEADER_FIELDS) {
    const value = view[name];
    const malformed = () =>
      new InvalidProof(`block header field ${pyRepr(name)} is missing or malformed`);
    if (TEXT_FIELDS.has(name)) {
      if (typeof value !== "string") throw malformed();
      header[name] = value;
    } else if (INT_FIELDS.has(name)) {
      if (!Number.isSafeInteger(value)) throw malformed();
      header[name] = BigInt(value);
    } else {
      try {
        header[name] = fromHex(value);
      } catch {
        throw malformed();
      }
    }
  }
  return header;
}

/** The header's canonical value: every field, by name. @param {Header} header */
export function headerToValue(header) {
  return Object.fromEntries(HEADER_FIELDS.map((name) => [name, header[name]]));
}

/** The header's hash, the block id certificates sign. @param {Header} header */
export function headerHash(header) {
  return taggedHash("gc/header", encode(headerToValue(header)));
}
