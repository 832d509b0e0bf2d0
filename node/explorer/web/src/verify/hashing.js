// chain/hashing.py: blake2b-256, and tagged hashes (the tag as blake2b's 16-byte
// personalization, cut or padded with zero bytes).
import { blake2b } from "@noble/hashes/blake2.js";
import { utf8 } from "./bytes.js";

export const HASH_SIZE = 32;

/** blake2b-256 of `data`. @param {Uint8Array} data */
export function hash32(data) {
  return blake2b(data, { dkLen: HASH_SIZE });
}

/**
 * Domain-separated hash: blake2b-256 personalized with `tag` (text is UTF-8).
 * @param {string | Uint8Array} tag @param {Uint8Array} data
 */
export function taggedHash(tag, data) {
  const bytes = typeof tag === "string" ? utf8(tag) : tag;
  const personalization = new Uint8Array(16);
  personalization.set(bytes.subarray(0, 16));
  return blake2b(data, { dkLen: HASH_SIZE, personalization });
}
