// chain/ledger/audit.py: an audit entry's canonical bytes (what its leaf hashes) and the JSON
// view the node shows of it; chain/address.py: an address's text (hex with a checksum).
import { concatBytes, toHex } from "./bytes.js";
import { decode, expectBytes, expectInt, expectMap, expectText } from "./encoding.js";
import { hash32 } from "./hashing.js";
import { leafHash } from "./merkle.js";

export const ENTRY_FIELDS = ["height", "tx_index", "tx_id", "contract", "topic", "data"];
const MAX_TOPIC = 64;
const MAX_DATA = 8 * 1024;

/**
 * @typedef {{ height: bigint, tx_index: bigint, tx_id: Uint8Array, contract: Uint8Array,
 *   topic: string, data: Uint8Array }} AuditEntry
 */

/** An audit entry from its canonical bytes (outside bytes: decode refuses any other form). */
export function entryFromBytes(data) {
  const f = expectMap(decode(data), "audit entry", ENTRY_FIELDS);
  return {
    height: expectInt(f.height, "entry height"),
    tx_index: expectInt(f.tx_index, "entry tx_index"),
    tx_id: expectBytes(f.tx_id, "entry tx_id", 32),
    contract: expectBytes(f.contract, "entry contract", 33),
    topic: expectText(f.topic, "entry topic", MAX_TOPIC),
    data: expectBytes(f.data, "entry data", null, MAX_DATA),
  };
}

/** The leaf of an entry's canonical bytes. */
export const entryLeaf = (entryBytes) => leafHash(entryBytes);

/** An address as text: its raw bytes and a 6-byte checksum (blake2b-256 of them), in hex. */
export function addressText(raw) {
  return toHex(concatBytes(raw, hash32(raw).subarray(0, 6)));
}

/** The entry as the node's JSON shows it (Python: entry_to_json). @param {AuditEntry} entry */
export function entryToJson(entry) {
  return {
    height: entry.height,
    tx_index: entry.tx_index,
    tx_id: toHex(entry.tx_id),
    contract: addressText(entry.contract),
    topic: entry.topic,
    data: toHex(entry.data),
  };
}

/** The fields an entry shows, in a row's order: its index, then every field of the entry. */
export const SHOWN_FIELDS = ["index", ...ENTRY_FIELDS];

/**
 * Where an entry as a listing shows it (the node's JSON: integers as numbers) differs from the
 * entry verified (verifyEntry's `entry`: integers as BigInt): one item per field that differs,
 * in SHOWN_FIELDS order; none when the listing shows the verified entry.
 * @returns {{ field: string, shown: unknown, verified: string | bigint }[]}
 */
export function entryDifferences(shown, verified) {
  const listed = typeof shown === "object" && shown !== null ? shown : {};
  return SHOWN_FIELDS.filter((field) => !sameValue(listed[field], verified[field])).map(
    (field) => ({ field, shown: listed[field], verified: verified[field] }),
  );
}

function sameValue(shown, verified) {
  if (typeof verified === "bigint" || typeof verified === "number") {
    return Number.isSafeInteger(shown) && BigInt(shown) === BigInt(verified);
  }
  return shown === verified;
}
