// chain/light/: light blocks (a header, the set that signed it, its certificate) and the
// light client's rules.
//
// Adjacent (h to h+1): the new header names the trusted header and the set the trusted header
// announced as its next, and its certificate holds more than 2/3 of that set.
// Skipping (h to a later height): the certificate holds more than 2/3 of its own set, and its
// signers hold more than 1/3 of the trusted set's blockstake (the same validators, by both
// keys); each signer the trusted set does not hold proves possession of its BLS key.
import { equalBytes, toHex } from "./bytes.js";
import { checkCommit, commitFromValue, commitSigners } from "./commit.js";
import { decode, expectList, expectMap } from "./encoding.js";
import { EncodingError, LightBlockInvalid, NotEnoughTrust, RuleError, pyRepr } from "./errors.js";
import { headerFromValue, headerHash } from "./header.js";
import { checkBlsRegistration, totalPower } from "./validators.js";
import { validatorSetFromValue, validatorSetHash } from "./validators.js";

export const MAX_LIGHT_BLOCK_SIZE = 64 * 1024;

/**
 * @typedef {{ header: import("./header.js").Header,
 *   validators: import("./validators.js").ValidatorSet,
 *   commit: import("./commit.js").Commit | null }} LightBlock
 */

/** A light block from outside bytes (GET /v1/light/...). @returns {LightBlock} */
export function decodeLightBlock(data) {
  const f = expectMap(decode(data, MAX_LIGHT_BLOCK_SIZE), "light block", [
    "header",
    "validators",
    "commit",
  ]);
  const header = headerFromValue(f.header);
  const commits = expectList(f.commit, "light block commit", 1);
  if ((commits.length === 0) !== (header.height === 0n)) {
    throw new EncodingError("a light block carries one certificate, except at genesis");
  }
  return {
    header,
    validators: validatorSetFromValue(f.validators),
    commit: commits.length ? commitFromValue(commits[0]) : null,
  };
}

/**
 * The block is sound on its own: this chain's, signed by the set its header names, with a
 * certificate of more than 2/3 of that set. Returns the certificate's signers.
 * @param {string} chainId @param {LightBlock} block
 */
export function checkLightBlock(chainId, block) {
  const { header } = block;
  if (header.chain_id !== chainId) {
    throw new LightBlockInvalid(`height ${header.height} is of chain ${pyRepr(header.chain_id)}`);
  }
  if (!equalBytes(validatorSetHash(block.validators), header.validators_hash)) {
    throw new LightBlockInvalid(
      `height ${header.height}: the validator set does not hash to the header's validators_hash`,
    );
  }
  if (block.commit === null) {
    throw new LightBlockInvalid(`height ${header.height} has no certificate`);
  }
  return asLightBlockInvalid(header.height, () =>
    checkCommit(chainId, block.validators, block.commit, header),
  );
}

/** A certificate's own failure, as the light block's. */
function asLightBlockInvalid(height, check) {
  try {
    return check();
  } catch (err) {
    if (err instanceof RuleError && err.code === "invalid_block") {
      throw new LightBlockInvalid(`height ${height}: ${err.message}`);
    }
    throw err;
  }
}

function checkFollows(trusted, untrusted) {
  const [t, u] = [trusted.header, untrusted.header];
  if (u.height <= t.height) {
    throw new LightBlockInvalid(
      `height ${u.height} does not follow the trusted height ${t.height}`,
    );
  }
  if (u.time_ms <= t.time_ms) {
    throw new LightBlockInvalid(
      `height ${u.height} is not later than the trusted height ${t.height}`,
    );
  }
}

/** Trust `untrusted`, the height after `trusted`. */
export function verifyAdjacent(chainId, trusted, untrusted) {
  checkFollows(trusted, untrusted);
  const { header } = untrusted;
  if (header.height !== trusted.header.height + 1n) {
    throw new LightBlockInvalid(`height ${header.height} is not next to ${trusted.header.height}`);
  }
  if (!equalBytes(header.prev_hash, headerHash(trusted.header))) {
    throw new LightBlockInvalid(`height ${header.height} does not name the trusted header`);
  }
  if (!equalBytes(header.validators_hash, trusted.header.next_validators_hash)) {
    throw new LightBlockInvalid(
      `height ${header.height} is signed by another set than height ${trusted.header.height} ` +
        "named as its next",
    );
  }
  return checkLightBlock(chainId, untrusted);
}

/** A validator by both its keys: who counts as the same validator across sets. */
const both = (v) => `${toHex(v.public_key)}/${toHex(v.bls_key)}`;

/** The trusted set's blockstake among `signers` (validators of both, by both keys). */
export function vouchingPower(trusted, signers) {
  const ours = new Map(trusted.map((v) => [both(v), v.blockstake]));
  return signers.reduce((sum, v) => sum + (ours.get(both(v)) ?? 0n), 0n);
}

/** Every signer the trusted set does not hold proved possession of its BLS key. */
export function checkNewSigners(trusted, untrusted, signers) {
  const known = new Set(trusted.map(both));
  for (const v of signers) {
    if (known.has(both(v))) continue;
    try {
      checkBlsRegistration(v.bls_key, v.bls_pop);
    } catch (err) {
      if (!(err instanceof RuleError)) throw err;
      throw new LightBlockInvalid(
        `height ${untrusted.header.height}: validator ${toHex(v.public_key)}: ${err.message}`,
      );
    }
  }
}

/** Trust `untrusted`, any later height, if the trusted set vouches for it (the 1/3 rule). */
export function verifySkipping(chainId, trusted, untrusted) {
  checkFollows(trusted, untrusted);
  const height = untrusted.header.height;
  if (untrusted.commit === null) throw new LightBlockInvalid(`height ${height} has no certificate`);
  const signers = asLightBlockInvalid(height, () =>
    commitSigners(untrusted.commit, untrusted.validators),
  );
  const power = vouchingPower(trusted.validators, signers);
  const total = totalPower(trusted.validators);
  if (3n * power <= total) {
    throw new NotEnoughTrust(
      `height ${height} is signed by ${power} of the ${total} blockstake trusted at height ` +
        `${trusted.header.height}; more than 1/3 is needed`,
    );
  }
  checkNewSigners(trusted.validators, untrusted, signers);
  return checkLightBlock(chainId, untrusted);
}

/**
 * Trust `untrusted` given `trusted`, adjacent or skipping; throws LightBlockInvalid or
 * NotEnoughTrust. Returns the certificate's signers.
 * @param {string} chainId @param {LightBlock} trusted @param {LightBlock} untrusted
 */
export function verifyLightBlock(chainId, trusted, untrusted) {
  return untrusted.header.height === trusted.header.height + 1n
    ? verifyAdjacent(chainId, trusted, untrusted)
    : verifySkipping(chainId, trusted, untrusted);
}
