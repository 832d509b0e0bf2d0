// chain/encoding.py: canonical CBOR under a strict profile. Maps with text keys; integers,
// bytes, text, booleans, lists and maps; no floats, tags, null or indefinite lengths.
//
// cborg encodes canonically as cbor2's canonical=True does: integers and lengths in their
// shortest form, map keys sorted length-first then bytewise over their UTF-8 bytes (RFC 7049),
// BigInts up to 64 bits as plain integers. `decode` accepts only bytes `encode` would make:
// it decodes, checks the profile, and re-encodes. Integers come out of the typed readers
// (expectInt) as BigInt, so no arithmetic ever rounds.
import { decode as cborDecode, encode as cborEncode } from "cborg";
import { equalBytes } from "./bytes.js";
import { EncodingError, pyRepr } from "./errors.js";

export const MAX_DEPTH = 32;
export const MAX_INT = 2n ** 64n - 1n;
export const MIN_INT = -(2n ** 64n);

const DECODE_OPTIONS = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: true,
  rejectDuplicateMapKeys: true,
};

/** A plain object: how a CBOR map decodes, and how one is given to `encode`. */
export function isMap(value) {
  if (typeof value !== "object" || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** An integer of the profile: a BigInt, or a Number that is exactly one. */
const isInteger = (value) =>
  typeof value === "bigint" || (typeof value === "number" && Number.isSafeInteger(value));

/** Refuse anything outside the profile (Python: _check). */
function check(value, depth) {
  if (depth > MAX_DEPTH) throw new EncodingError(`nesting deeper than ${MAX_DEPTH}`);
  if (typeof value === "boolean" || typeof value === "string" || value instanceof Uint8Array) {
    return;
  }
  if (isInteger(value)) {
    if (BigInt(value) < MIN_INT || BigInt(value) > MAX_INT) {
      throw new EncodingError(`integer ${value} is outside the 64-bit CBOR range`);
    }
    return;
  }
  if (Array.isArray(value)) {
    for (const item of value) check(item, depth + 1);
    return;
  }
  if (isMap(value)) {
    for (const item of Object.values(value)) check(item, depth + 1);
    return;
  }
  const type = value === null ? "null" : typeof value;
  throw new EncodingError(`type ${type} is not allowed in canonical encoding`);
}

/** Canonical CBOR bytes of `value`; EncodingError for anything outside the profile. */
export function encode(value) {
  check(value, 0);
  return cborEncode(value);
}

/**
 * Decode canonical bytes; anything that would not re-encode identically is refused.
 * @param {Uint8Array} data @param {number} [maxSize]
 */
export function decode(data, maxSize = 1 << 20) {
  if (!(data instanceof Uint8Array)) throw new EncodingError("input is not bytes");
  if (data.length > maxSize) {
    throw new EncodingError(`input of ${data.length} bytes exceeds the limit of ${maxSize}`);
  }
  let value;
  try {
    value = cborDecode(data, DECODE_OPTIONS);
  } catch (err) {
    throw new EncodingError(`not valid CBOR: ${err.message}`);
  }
  check(value, 0);
  if (!equalBytes(cborEncode(value), data)) {
    throw new EncodingError("not in canonical form (re-encoding differs)");
  }
  return value;
}

// Typed field readers for decoders: each names the field that is wrong.

const pyList = (names) => `[${names.map(pyRepr).join(", ")}]`;

/** A map with exactly `keys`. @param {unknown} value @param {string} what @param {string[]} keys */
export function expectMap(value, what, keys) {
  if (!isMap(value)) throw new EncodingError(`${what} must be a map`);
  const got = Object.keys(value).sort();
  const want = [...keys].sort();
  if (got.length !== want.length || got.some((key, i) => key !== want[i])) {
    throw new EncodingError(`${what} must have fields ${pyList(want)}, got ${pyList(got)}`);
  }
  return /** @type {Record<string, unknown>} */ (value);
}

/** An integer in low..high, as a BigInt. @returns {bigint} */
export function expectInt(value, what, low = 0n, high = MAX_INT) {
  if (!isInteger(value)) throw new EncodingError(`${what} must be an integer`);
  const n = BigInt(value);
  if (n < low || n > high) throw new EncodingError(`${what} ${n} is outside ${low}..${high}`);
  return n;
}

/** Bytes, of exactly `size` if given. @returns {Uint8Array} */
export function expectBytes(value, what, size = null, maxSize = 1 << 16) {
  if (!(value instanceof Uint8Array)) throw new EncodingError(`${what} must be bytes`);
  if (size !== null && value.length !== size) {
    throw new EncodingError(`${what} must be ${size} bytes, got ${value.length}`);
  }
  if (value.length > maxSize) throw new EncodingError(`${what} is longer than ${maxSize} bytes`);
  return value;
}

/** Text of at most `maxSize` UTF-8 bytes. @returns {string} */
export function expectText(value, what, maxSize = 256) {
  if (typeof value !== "string") throw new EncodingError(`${what} must be text`);
  if (new TextEncoder().encode(value).length > maxSize) {
    throw new EncodingError(`${what} is longer than ${maxSize} bytes`);
  }
  return value;
}

/** A list of at most `maxItems`. @returns {unknown[]} */
export function expectList(value, what, maxItems) {
  if (!Array.isArray(value)) throw new EncodingError(`${what} must be a list`);
  if (value.length > maxItems) {
    throw new EncodingError(`${what} has ${value.length} items, at most ${maxItems} allowed`);
  }
  return value;
}
