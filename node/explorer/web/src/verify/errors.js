// Named errors, as chain/errors.py names them: each check throws one whose `code` is the
// Python error's code and whose message says which rule failed.

/** A rule the input breaks (Python: RuleViolation). */
export class RuleError extends Error {
  /** @param {string} code @param {string} message */
  constructor(code, message) {
    super(message);
    this.name = "RuleError";
    this.code = code;
  }
}

/** @param {string} code */
const kind = (code) =>
  class extends RuleError {
    /** @param {string} message */
    constructor(message) {
      super(code, message);
    }
  };

/** Bytes that are not the canonical encoding of what they claim to be. */
export const EncodingError = kind("malformed_encoding");
/** A Merkle proof, or an answer of the node, that does not check out. */
export const InvalidProof = kind("invalid_proof");
/** A certificate (commit) that breaks a rule. */
export const InvalidBlock = kind("invalid_block");
/** A BLS key no honest validator could hold, or one whose possession is not proven. */
export const InvalidBlsKey = kind("invalid_bls_key");
/** A validator set that breaks its shape rules. */
export const InvalidValidatorSet = kind("invalid_validator_set");
/** A light block that fails verification (chain/light/verify.py). */
export const LightBlockInvalid = kind("invalid_light_block");
/** A skip the trusted set cannot vouch for: no fault of the block. */
export const NotEnoughTrust = kind("not_enough_trust");

/**
 * A string as Python's repr() prints it, for messages that quote a name or a chain id.
 * @param {string} text
 */
export function pyRepr(text) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = text.replaceAll("\\", "\\\\").replaceAll(quote, `\\${quote}`);
  return `${quote}${escaped}${quote}`;
}
