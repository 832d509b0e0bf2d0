// chain/merkle.py: Certificate Transparency trees (RFC 9162 2.1) with blake2b-256; leaves
// and interior nodes hashed under different one-byte prefixes.
import { concatBytes, equalBytes } from "./bytes.js";
import { InvalidProof } from "./errors.js";
import { HASH_SIZE, hash32 } from "./hashing.js";

/** H(0x00 || entry). @param {Uint8Array} entry */
export function leafHash(entry) {
  return hash32(concatBytes(Uint8Array.of(0), entry));
}

/** H(0x01 || left || right). @param {Uint8Array} left @param {Uint8Array} right */
export function nodeHash(left, right) {
  return hash32(concatBytes(Uint8Array.of(1), left, right));
}

/**
 * Why `proof` does not place `leaf` at `index` of the tree of `size` and `root` (RFC 9162
 * 2.1.3.2), or null if it does. Indexes are BigInts inside: logs may outgrow 32-bit shifts.
 * @param {Uint8Array} leaf @param {number | bigint} index @param {number | bigint} size
 * @param {Uint8Array[]} proof @param {Uint8Array} root
 */
function inclusionFailure(leaf, index, size, proof, root) {
  if (!(0n <= BigInt(index) && BigInt(index) < BigInt(size))) {
    return `index ${index} is outside a tree of size ${size}`;
  }
  if (proof.some((p) => p.length !== HASH_SIZE)) return "every proof element must be 32 bytes";
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) return "proof is longer than the tree is deep";
    if (fn & 1n || fn === sn) {
      r = nodeHash(p, r);
      while (!(fn & 1n) && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) return "proof is shorter than the path to the root";
  if (!equalBytes(r, root)) return "proof does not recompute the root";
  return null;
}

/** Whether `leaf` (a leaf hash) is entry `index` of the tree of `size` whose root is `root`. */
export function verifyInclusion(leaf, index, size, proof, root) {
  return inclusionFailure(leaf, index, size, proof, root) === null;
}

/** Like verifyInclusion, throwing InvalidProof that says what failed. */
export function checkInclusion(leaf, index, size, proof, root) {
  const reason = inclusionFailure(leaf, index, size, proof, root);
  if (reason !== null) throw new InvalidProof(`inclusion proof: ${reason}`);
}
