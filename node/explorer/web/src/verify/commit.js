// chain/blocks/commit.py: what validators sign (vote sign bytes), and finality certificates:
// a signer bitmap over the set and one aggregate BLS signature of the precommit, valid when
// its signers hold more than 2/3 of the set's blockstake.
import { concatBytes, equalBytes, utf8 } from "./bytes.js";
import { fastAggregateVerify } from "./bls.js";
import { encode, expectBytes, expectInt, expectMap } from "./encoding.js";
import { EncodingError, InvalidBlock } from "./errors.js";
import { MAX_HEIGHT, headerHash } from "./header.js";
import { MAX_VALIDATORS, totalPower } from "./validators.js";

export const VoteType = Object.freeze({ PREVOTE: 1n, PRECOMMIT: 2n });
const MAX_BITMAP_SIZE = (MAX_VALIDATORS + 7) / 8;
const COMMIT_FIELDS = ["height", "round", "block_hash", "signers", "signature"];

/**
 * @typedef {{ height: bigint, round: bigint, block_hash: Uint8Array, signers: Uint8Array,
 *   signature: Uint8Array }} Commit
 */

/**
 * What a validator signs: chain id, height, round, type and block id, canonically.
 * @param {string} chainId @param {bigint | number} height @param {bigint | number} round
 * @param {bigint | number} type @param {Uint8Array} blockHash
 */
export function voteSignBytes(chainId, height, round, type, blockHash) {
  const vote = {
    chain_id: chainId,
    height: BigInt(height),
    round: BigInt(round),
    type: BigInt(type),
    block_hash: blockHash,
  };
  return concatBytes(utf8("gc/vote\0"), encode(vote));
}

/** A certificate from its decoded value. @returns {Commit} */
export function commitFromValue(value) {
  const f = expectMap(value, "commit", COMMIT_FIELDS);
  const signers = expectBytes(f.signers, "commit signers", null, MAX_BITMAP_SIZE);
  if (signers.length === 0 || signers[signers.length - 1] === 0) {
    throw new EncodingError("commit signers must be a bitmap whose last byte is not zero");
  }
  return {
    height: expectInt(f.height, "commit height", 0n, MAX_HEIGHT),
    round: expectInt(f.round, "commit round", 0n, 2n ** 31n),
    block_hash: expectBytes(f.block_hash, "commit block_hash", 32),
    signers,
    signature: expectBytes(f.signature, "commit signature", 96),
  };
}

/** The set positions the bitmap names (bit i: byte i / 8, least significant bit first). */
export function signerIndices(commit, size) {
  const indices = [];
  for (let i = 0; i < commit.signers.length * 8; i++) {
    if ((commit.signers[i >> 3] >> (i & 7)) & 1) indices.push(i);
  }
  const last = indices[indices.length - 1];
  if (last >= size) {
    throw new InvalidBlock(`commit signers name validator ${last} of a set of ${size}`);
  }
  return indices;
}

/** The validators of `vset` the certificate says signed. */
export function commitSigners(commit, vset) {
  return signerIndices(commit, vset.length).map((i) => vset[i]);
}

/**
 * What a certificate claims, checked without its signature: it is for `header`, and its
 * signers hold more than 2/3 of `vset`'s blockstake. Returns them.
 */
export function checkCommitClaims(vset, commit, header) {
  if (commit.height !== header.height || !equalBytes(commit.block_hash, headerHash(header))) {
    throw new InvalidBlock(`commit is for another block than height ${header.height}`);
  }
  const signers = commitSigners(commit, vset);
  const signed = totalPower(signers);
  const total = totalPower(vset);
  if (3n * signed <= 2n * total) {
    throw new InvalidBlock(`commit has ${signed} of ${total} blockstake, more than 2/3 needed`);
  }
  return signers;
}

/**
 * A certificate is valid for `header` when its signers hold more than 2/3 of `vset`'s
 * blockstake and its signature is the aggregate of their precommits (one FastAggregateVerify).
 * Returns the signers.
 */
export function checkCommit(chainId, vset, commit, header) {
  const signers = checkCommitClaims(vset, commit, header);
  const message = voteSignBytes(
    chainId,
    commit.height,
    commit.round,
    VoteType.PRECOMMIT,
    commit.block_hash,
  );
  const keys = signers.map((v) => v.bls_key);
  if (!fastAggregateVerify(keys, message, commit.signature)) {
    throw new InvalidBlock(
      `commit signature for height ${commit.height} is not the aggregate of its ` +
        `${signers.length} signers' precommits`,
    );
  }
  return signers;
}
