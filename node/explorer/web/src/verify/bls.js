// chain/bls/: BLS12-381 in the proof-of-possession ciphersuite
// (BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_): public keys are compressed G1 points (48
// bytes), signatures compressed G2 points (96 bytes), messages hashed to G2 under the
// signature tag, proofs of possession (the key signed) under their own tag.
//
// Every decode is checked as chain/bls/fast.py checks it: on the curve, in the subgroup, and
// canonical (re-encoding gives the same bytes); a public key may not be the identity.
import { bls12_381 } from "@noble/curves/bls12-381.js";
import { equalBytes, toHex } from "./bytes.js";
import { InvalidBlsKey } from "./errors.js";

export const SIGNATURE_DST = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
export const POP_DST = "BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";
export const PUBLIC_KEY_SIZE = 48;
export const SIGNATURE_SIZE = 96;

const G1 = bls12_381.G1.Point;
const sigs = bls12_381.longSignatures; // G1 keys, G2 signatures

/** The G1 point of a valid public key, or null. @param {Uint8Array} key */
function publicKeyPoint(key) {
  if (key.length !== PUBLIC_KEY_SIZE) return null;
  try {
    const point = G1.fromBytes(key);
    return point.is0() || !equalBytes(point.toBytes(true), key) ? null : point;
  } catch {
    return null;
  }
}

/** The G2 point of a canonical signature (the identity included), or null. */
function signaturePoint(signature) {
  if (signature.length !== SIGNATURE_SIZE) return null;
  try {
    const point = sigs.Signature.fromBytes(signature);
    return equalBytes(sigs.Signature.toBytes(point), signature) ? point : null;
  } catch {
    return null;
  }
}

/** e(key, H(message)) == e(g1, signature), with H under `dst`. */
function coreVerify(keyPoint, message, signature, dst) {
  const point = signaturePoint(signature);
  return point !== null && sigs.verify(point, sigs.hash(message, dst), keyPoint);
}

/** KeyValidate: throws InvalidBlsKey unless `key` is a canonical, non-identity G1 point. */
export function keyValidate(key) {
  if (key.length !== PUBLIC_KEY_SIZE) {
    throw new InvalidBlsKey(`a BLS public key is ${PUBLIC_KEY_SIZE} bytes, got ${key.length}`);
  }
  if (publicKeyPoint(key) === null) {
    throw new InvalidBlsKey(`${toHex(key)} is not a valid BLS public key`);
  }
}

/** Whether `signature` is `key`'s signature of `message`. */
export function verify(key, message, signature) {
  const point = publicKeyPoint(key);
  return point !== null && coreVerify(point, message, signature, SIGNATURE_DST);
}

/** PopVerify: whether `proof` shows the holder of `key` knows its secret. */
export function verifyPossession(key, proof) {
  const point = publicKeyPoint(key);
  return point !== null && coreVerify(point, key, proof, POP_DST);
}

/**
 * FastAggregateVerify: whether `signature` aggregates signatures of `message` by every one of
 * `keys` (one or more). Sound only for keys whose possession was proven.
 * @param {Uint8Array[]} keys @param {Uint8Array} message @param {Uint8Array} signature
 */
export function fastAggregateVerify(keys, message, signature) {
  if (keys.length === 0 || signature.length !== SIGNATURE_SIZE) return false;
  let total = G1.ZERO;
  for (const key of keys) {
    const point = publicKeyPoint(key);
    if (point === null) return false;
    total = total.add(point);
  }
  // Keys that cancel (pk and -pk) sum to the identity, which KeyValidate refuses.
  return !total.is0() && coreVerify(total, message, signature, SIGNATURE_DST);
}
