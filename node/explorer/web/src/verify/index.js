// Verifying an audit entry in the browser, from the node's public API and one trusted hash
// (block 0's header), by the chain's own rules. The Python reference of these steps is
// tests/vectors/explorer_flow.py; tests/vectors/explorer.json holds the shared vectors.
//
//   leaf         the entry's bytes hash to its leaf, and encode the entry the node shows
//   inclusion    the inclusion proof leads from the leaf to the audit root of the header that
//                commits to the log's size
//   header       the header (its fields as served) hashes to the block its certificate signs
//   light_path   light blocks lead from genesis to that header, each verified from the one
//                before (adjacent, or skipping where the trusted set vouches)
//   certificate  the header's finality certificate holds against its validator set
//
// Read-only: it only GETs. A failure stops the steps, its detail naming the rule broken.
import { ENTRY_FIELDS, entryFromBytes, entryLeaf, entryToJson } from "./audit.js";
import { equalBytes, fromHex, toHex } from "./bytes.js";
import { InvalidProof, LightBlockInvalid } from "./errors.js";
import { HEADER_FIELDS, headerFromJson, headerHash } from "./header.js";
import { checkLightBlock, decodeLightBlock, verifyLightBlock } from "./light.js";
import { checkInclusion } from "./merkle.js";
import { totalPower, validatorSetHash } from "./validators.js";

export { addressText, entryDifferences, entryFromBytes, entryLeaf, entryToJson } from "./audit.js";
export { fastAggregateVerify, keyValidate, verify, verifyPossession } from "./bls.js";
export { fromHex, toHex } from "./bytes.js";
export { checkCommit, checkCommitClaims, commitFromValue, commitSigners } from "./commit.js";
export { VoteType, voteSignBytes } from "./commit.js";
export { decode, encode } from "./encoding.js";
export * from "./errors.js";
export { hash32, taggedHash } from "./hashing.js";
export { headerFromJson, headerFromValue, headerHash, headerToValue } from "./header.js";
export { checkLightBlock, decodeLightBlock, verifyAdjacent, verifyLightBlock } from "./light.js";
export { verifySkipping } from "./light.js";
export { checkInclusion, leafHash, nodeHash, verifyInclusion } from "./merkle.js";
export { checkBlsRegistration, validatorSetFromValue, validatorSetHash } from "./validators.js";

/** The steps, in order, with a title a page can show. */
export const STEPS = Object.freeze([
  { name: "leaf", title: "The entry's bytes hash to its leaf" },
  { name: "inclusion", title: "The inclusion proof leads to the header's audit root" },
  { name: "header", title: "The header is the block its certificate signs" },
  { name: "light_path", title: "Light blocks lead from genesis to the header" },
  { name: "certificate", title: "The header's finality certificate holds" },
]);

/**
 * Verify audit entry `index` from the node's API.
 *
 * @param {object} options
 * @param {(path: string) => Promise<any>} options.fetchJson GETs a path of the node's API
 *   ("/v1/...") and returns its parsed JSON; throws on an HTTP error.
 * @param {number} options.index the entry's index in the audit log
 * @param {string | Uint8Array} options.trustedGenesisHash the hash of block 0's header (64 hex
 *   digits or 32 bytes), from somewhere other than the node being checked. The genesis file's
 *   hash (a node's /v1/status genesis_hash, block 0's prev_hash) is refused, saying so.
 * @param {(step: {name: string, ok: boolean, detail: string}) => void} [options.onStep]
 *   called as each step finishes, the failing one included
 * @returns {Promise<{ ok: boolean, steps: {name: string, ok: boolean, detail: string}[],
 *   entry?: object, header?: object }>} only when ok: `entry`, the entry decoded from the
 *   verified bytes ({index, ...entryToJson}: integers as BigInt), and `header`, the verified
 *   header (its hashed fields as served, and the hash computed here). Nothing else the node
 *   served is verified: a page that shows an entry from a listing compares it with `entry`
 *   (entryDifferences).
 */
export async function verifyEntry({ fetchJson, index, trustedGenesisHash, onStep = () => {} }) {
  if (!Number.isSafeInteger(index) || index < 0) {
    throw new TypeError("index must be an integer >= 0");
  }
  const flow = new Flow(fetchJson, index, trustedHash(trustedGenesisHash));
  const steps = [];
  for (const { name } of STEPS) {
    let step;
    try {
      step = { name, ok: true, detail: await flow[name]() };
    } catch (err) {
      step = { name, ok: false, detail: String(err?.message ?? err) };
    }
    steps.push(step);
    onStep(step);
    if (!step.ok) break;
  }
  const ok = steps.length === STEPS.length && steps.every((step) => step.ok);
  if (!ok) return { ok, steps };
  return { ok, steps, entry: flow.verifiedEntry(), header: flow.verifiedHeader() };
}

function trustedHash(hash) {
  if (typeof hash === "string" && /^[0-9a-fA-F]{64}$/.test(hash)) return fromHex(hash);
  if (hash instanceof Uint8Array && hash.length === 32) return hash;
  throw new TypeError("trustedGenesisHash must be 32 bytes or 64 hex digits");
}

/** The steps over one entry: a method each, returning its detail; state passes between. */
class Flow {
  constructor(fetchJson, index, trustedGenesis) {
    Object.assign(this, { fetchJson, index, trustedGenesis });
  }

  async leaf() {
    const answer = await this.fetch(`/v1/audit/entries/${this.index}/proof`);
    this.answer = answer;
    this.view = answer?.header;
    this.entryBytes = fromHex(textField(answer, "entry_bytes"), "entry_bytes");
    const view = answer.entry;
    if (typeof view !== "object" || view === null) {
      throw new InvalidProof("the node's answer has no valid 'entry'");
    }
    if (answer.index !== this.index || view.index !== this.index) {
      throw new InvalidProof(`the node's answer is not for entry ${this.index}`);
    }
    const leaf = toHex(entryLeaf(this.entryBytes));
    if (textField(view, "leaf_hash") !== leaf) {
      throw new InvalidProof(
        `the entry's bytes hash to leaf ${leaf}, not to its leaf_hash ${view.leaf_hash}`,
      );
    }
    const entry = entryFromBytes(this.entryBytes);
    const shown = entryToJson(entry);
    for (const name of ENTRY_FIELDS) {
      if (!sameJson(view[name], shown[name])) {
        throw new InvalidProof(`the entry's ${name} is not what its bytes encode`);
      }
    }
    return (
      `entry ${this.index} (${entry.topic}, height ${entry.height}): ` +
      `its ${this.entryBytes.length} bytes hash to leaf ${leaf}`
    );
  }

  async inclusion() {
    const { answer } = this;
    this.served = headerFromJson(answer.header);
    const { audit_size: committed, audit_root: root, height } = this.served;
    const { size } = answer;
    if (!Number.isSafeInteger(size)) {
      throw new InvalidProof("the node's answer has no valid 'size'");
    }
    if (committed !== BigInt(size)) {
      throw new InvalidProof(`header commits to a log of ${committed}, not ${size}`);
    }
    if (!Array.isArray(answer.proof)) throw new InvalidProof("the answer has no proof list");
    const proof = answer.proof.map((p) => fromHex(p, "a proof hash"));
    checkInclusion(entryLeaf(this.entryBytes), this.index, size, proof, root);
    return (
      `${proof.length} hashes lead from the leaf to the audit root ${toHex(root)} of the ` +
      `log of ${size} entries that header ${height} commits to`
    );
  }

  async header() {
    const { served, view } = this;
    const hash = toHex(headerHash(served));
    if (view.hash !== undefined && view.hash !== null && view.hash !== hash) {
      throw new InvalidProof("header's hash field does not match its contents");
    }
    this.certified = await this.lightBlock(served.height);
    const { commit } = this.certified;
    if (commit === null) throw new LightBlockInvalid(`height ${served.height} has no certificate`);
    if (toHex(commit.block_hash) !== hash) {
      throw new InvalidProof(
        `the certificate of height ${served.height} signs ${toHex(commit.block_hash)}, ` +
          `not the header's hash ${hash}`,
      );
    }
    return `header ${served.height} hashes to ${hash}, the block its certificate signs`;
  }

  async light_path() {
    const { served } = this;
    let trusted = await this.lightBlock(0n);
    const genesis = headerHash(trusted.header);
    if (!equalBytes(genesis, this.trustedGenesis)) {
      if (equalBytes(trusted.header.prev_hash, this.trustedGenesis)) {
        throw new InvalidProof(
          "the trusted genesis hash is the genesis file's (a node's /v1/status genesis_hash), " +
            "not the hash of block 0's header (`gridchain light init --json` prints that)",
        );
      }
      throw new InvalidProof(
        `block 0 hashes to ${toHex(genesis)}, not the trusted genesis hash ` +
          toHex(this.trustedGenesis),
      );
    }
    if (!equalBytes(validatorSetHash(trusted.validators), trusted.header.validators_hash)) {
      throw new LightBlockInvalid(
        "height 0: the validator set does not hash to the header's validators_hash",
      );
    }
    this.chainId = trusted.header.chain_id;
    const heights = [];
    while (trusted.header.height < served.height) {
      const from = trusted.header.height;
      const path = await this.fetch(`/v1/light/path?from=${from}&to=${served.height}`);
      const raws = path?.light_blocks;
      if (!Array.isArray(raws)) {
        throw new InvalidProof("the node's answer has no valid 'light_blocks'");
      }
      if (raws.length === 0) {
        throw new InvalidProof(
          `the node's light path stops at height ${from}, below ${served.height}`,
        );
      }
      for (const raw of raws) {
        const block = decodeLightBlock(fromHex(raw, "a light block"));
        verifyLightBlock(this.chainId, trusted, block);
        trusted = block;
        heights.push(block.header.height);
      }
    }
    const [reached, wanted] = [headerHash(trusted.header), headerHash(served)];
    if (!equalBytes(reached, wanted)) {
      throw new InvalidProof(
        `the light path reaches header ${toHex(reached)} at height ${trusted.header.height}, ` +
          `not the proof's header ${toHex(wanted)}`,
      );
    }
    const through = heights.length ? `light blocks ${heights.join(", ")}` : "no light block";
    return (
      `from block 0 of ${this.chainId} (${toHex(genesis)}) to height ${served.height} ` +
      `through ${through}, each verified from the one before`
    );
  }

  async certificate() {
    const { served: header, certified } = this;
    const block = { header, validators: certified.validators, commit: certified.commit };
    const signers = checkLightBlock(this.chainId, block);
    return (
      `${signers.length} of ${block.validators.length} validators signed, holding ` +
      `${totalPower(signers)} of ${totalPower(block.validators)} blockstake ` +
      "(more than 2/3): one aggregate BLS signature verified"
    );
  }

  /** The entry its verified bytes encode, with the index the inclusion proof placed it at. */
  verifiedEntry() {
    return { index: this.index, ...entryToJson(entryFromBytes(this.entryBytes)) };
  }

  /** The header the steps verified: the fields its hash covers, as served, and that hash. */
  verifiedHeader() {
    const fields = Object.fromEntries(HEADER_FIELDS.map((name) => [name, this.view[name]]));
    return { ...fields, hash: toHex(headerHash(this.served)) };
  }

  /** The node's answer at `path`; an HTTP or network failure says which path. */
  async fetch(path) {
    try {
      return await this.fetchJson(path);
    } catch (err) {
      throw new Error(`could not fetch ${path}: ${err?.message ?? err}`);
    }
  }

  /** The light block of `height`, checked to be that height's. */
  async lightBlock(height) {
    const answer = await this.fetch(`/v1/light/${height}`);
    const raw = textField(answer, "light_block");
    const block = decodeLightBlock(fromHex(raw, "the light block"));
    if (block.header.height !== BigInt(height)) {
      throw new InvalidProof(
        `asked for the light block of height ${height}, got ${block.header.height}`,
      );
    }
    return block;
  }
}

/** A text field of an answer of the node. */
function textField(answer, name) {
  const value = typeof answer === "object" && answer !== null ? answer[name] : undefined;
  if (typeof value !== "string") throw new InvalidProof(`the node's answer has no valid '${name}'`);
  return value;
}

/** Whether a JSON value the node shows is `ours` (integers compared exactly). */
function sameJson(shown, ours) {
  if (typeof ours === "bigint") return Number.isSafeInteger(shown) && BigInt(shown) === ours;
  return shown === ours;
}
