// Bytes: hex, comparison, concatenation, UTF-8.
import { InvalidProof } from "./errors.js";

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * The bytes of a hex string; InvalidProof naming `what` if it is not hex.
 * @param {unknown} text @param {string} [what]
 * @returns {Uint8Array}
 */
export function fromHex(text, what = "a value") {
  if (typeof text !== "string" || !HEX.test(text)) throw new InvalidProof(`${what} is not hex`);
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** @param {Uint8Array} bytes @returns {string} lowercase hex */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** @param {Uint8Array} a @param {Uint8Array} b */
export function equalBytes(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** @param {...Uint8Array} parts */
export function concatBytes(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

const encoder = new TextEncoder();
/** @param {string} text */
export const utf8 = (text) => encoder.encode(text);

/**
 * Bytewise order (shorter first on a common prefix).
 * @param {Uint8Array} a @param {Uint8Array} b
 */
export function compareBytes(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}
