// chain/staking/validators.py: validator sets (sorted by ed25519 key, one encoding and one
// hash), their blockstake, and the BLS registration check (a valid key and its proof of
// possession).
import { compareBytes, toHex } from "./bytes.js";
import { keyValidate, verifyPossession } from "./bls.js";
import { EncodingError, InvalidBlsKey, InvalidValidatorSet } from "./errors.js";
import { encode, expectBytes, expectInt, expectList, expectText } from "./encoding.js";
import { taggedHash } from "./hashing.js";

export const MAX_VALIDATORS = 256;
export const MAX_BLOCKSTAKE = 2n ** 48n;

/**
 * @typedef {{ public_key: Uint8Array, bls_key: Uint8Array, bls_pop: Uint8Array,
 *   blockstake: bigint, name: string }} Validator
 * @typedef {Validator[]} ValidatorSet
 */

/** A set from its decoded value: [[public_key, bls_key, bls_pop, blockstake, name], ...]. */
export function validatorSetFromValue(value) {
  const vset = expectList(value, "validators", MAX_VALIDATORS).map((item, i) => {
    const entry = expectList(item, `validator ${i}`, 5);
    if (entry.length !== 5) {
      throw new EncodingError(
        `validator ${i} must be [public_key, bls_key, bls_pop, blockstake, name]`,
      );
    }
    return {
      public_key: expectBytes(entry[0], `validator ${i} key`, 32),
      bls_key: expectBytes(entry[1], `validator ${i} BLS key`, 48),
      bls_pop: expectBytes(entry[2], `validator ${i} BLS proof`, 96),
      blockstake: expectInt(entry[3], `validator ${i} blockstake`, 1n, MAX_BLOCKSTAKE),
      name: expectText(entry[4], `validator ${i} name`, 64),
    };
  });
  validateValidatorSet(vset);
  return vset;
}

/** The shape rules of a set (its keys' sizes and stakes are checked when decoded). */
export function validateValidatorSet(vset) {
  if (vset.length < 1 || vset.length > MAX_VALIDATORS) {
    throw new InvalidValidatorSet(`need 1 to ${MAX_VALIDATORS} validators`);
  }
  if (vset.some((v, i) => i > 0 && compareBytes(vset[i - 1].public_key, v.public_key) >= 0)) {
    throw new InvalidValidatorSet("validators must be unique and sorted by public key");
  }
  if (new Set(vset.map((v) => toHex(v.bls_key))).size !== vset.length) {
    throw new InvalidValidatorSet("two validators have the same BLS key");
  }
}

/** @param {ValidatorSet} vset */
export function validatorSetToValue(vset) {
  return vset.map((v) => [v.public_key, v.bls_key, v.bls_pop, v.blockstake, v.name]);
}

/** The hash headers name a set by. @param {ValidatorSet} vset */
export function validatorSetHash(vset) {
  return taggedHash("gc/valset", encode(validatorSetToValue(vset)));
}

/** The set's blockstake. @param {Validator[]} vset @returns {bigint} */
export function totalPower(vset) {
  return vset.reduce((sum, v) => sum + v.blockstake, 0n);
}

/** A key may be in a set only if it is valid and its holder proved possession. */
export function checkBlsRegistration(blsKey, proof) {
  keyValidate(blsKey);
  if (!verifyPossession(blsKey, proof)) {
    throw new InvalidBlsKey(`the proof of possession for BLS key ${toHex(blsKey)} does not verify`);
  }
}
