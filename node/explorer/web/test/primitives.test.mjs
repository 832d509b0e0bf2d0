// Hashes, canonical encoding, Merkle proofs, audit entries, headers, validator sets and BLS:
// every vector of tests/vectors/explorer.json the Python rules made, checked here.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as verify from "../src/verify/index.js";
import { VECTORS, bytes, fromTyped, hex, meetsVerdict, sameValue, throwsRule } from "./vectors.mjs";

describe("hashing", () => {
  test("hash32 is blake2b-256", () => {
    for (const v of VECTORS.hash32) assert.equal(hex(verify.hash32(bytes(v.data))), v.hash);
  });
  test("tagged hashes personalize blake2b with the tag, cut or padded to 16 bytes", () => {
    for (const v of VECTORS.tagged_hash) {
      assert.equal(hex(verify.taggedHash(bytes(v.tag), bytes(v.data))), v.hash, v.tag);
    }
    assert.equal(
      hex(verify.taggedHash("gc/header", new Uint8Array())),
      VECTORS.tagged_hash.find((v) => v.tag === hex(Buffer.from("gc/header")) && !v.data).hash,
    );
  });
});

describe("canonical encoding", () => {
  test("every value encodes to the bytes cbor2 canonical makes, and decodes back", () => {
    for (const v of VECTORS.encodings) {
      const value = fromTyped(v.value);
      assert.equal(hex(verify.encode(value)), v.bytes, JSON.stringify(v.value).slice(0, 80));
      assert.ok(sameValue(verify.decode(bytes(v.bytes)), value), v.bytes.slice(0, 80));
    }
  });
  test("bytes the Python decoder refuses are refused", () => {
    for (const v of VECTORS.refused_encodings) {
      assert.throws(() => verify.decode(bytes(v.bytes)), { code: "malformed_encoding" }, v.name);
    }
  });
  test("values outside the profile are not encoded", () => {
    for (const value of [1.5, null, undefined, 2 ** 60, 2n ** 64n, new Map(), [new Date()]]) {
      assert.throws(() => verify.encode(value), { code: "malformed_encoding" }, String(value));
    }
  });
  test("vote sign bytes", () => {
    for (const v of VECTORS.vote_sign_bytes) {
      const hash = bytes(v.block_hash);
      const signed = verify.voteSignBytes(v.chain_id, v.height, v.round, v.type, hash);
      assert.equal(hex(signed), v.bytes);
    }
  });
});

describe("Merkle inclusion", () => {
  const { merkle } = VECTORS;
  test("leaves", () => {
    merkle.entries.forEach((entry, i) => {
      assert.equal(hex(verify.leafHash(bytes(entry))), merkle.leaves[i]);
    });
  });
  test("every proof of every leaf at every size leads to the root", () => {
    for (const v of merkle.inclusion) {
      const [leaf, root] = [bytes(merkle.leaves[v.index]), bytes(merkle.roots[v.size])];
      const args = [leaf, v.index, v.size, v.proof.map(bytes), root];
      assert.ok(verify.verifyInclusion(...args), `${v.index} of ${v.size}`);
      verify.checkInclusion(...args);
    }
  });
  test("wrong proofs fail as the Python rules say", () => {
    for (const v of merkle.refused_inclusion) {
      const args = [bytes(v.leaf), v.index, v.size, v.proof.map(bytes), bytes(v.root)];
      assert.equal(verify.verifyInclusion(...args), false, v.name);
      throwsRule(() => verify.checkInclusion(...args), v.error);
    }
  });
});

describe("audit entries", () => {
  const { audit } = VECTORS;
  test("each entry's bytes are its leaf and the entry the node shows", () => {
    for (const v of audit.entries) {
      assert.equal(hex(verify.entryLeaf(bytes(v.bytes))), v.leaf);
      const shown = verify.entryToJson(verify.entryFromBytes(bytes(v.bytes)));
      assert.ok(sameValue(shown, v.view), `entry ${v.index}`);
    }
  });
  test("every entry is in the log at every size a header committed to", () => {
    for (const v of audit.proofs) {
      const leaf = bytes(audit.entries[v.index].leaf);
      verify.checkInclusion(leaf, v.index, v.size, v.proof.map(bytes), bytes(v.root));
    }
  });
});

describe("headers and validator sets", () => {
  test("a header's fields, as served or as encoded, hash to its hash", () => {
    for (const v of VECTORS.headers) {
      const header = verify.headerFromJson(v.view);
      assert.equal(hex(verify.encode(verify.headerToValue(header))), v.bytes);
      assert.equal(hex(verify.headerHash(header)), v.view.hash);
      const decoded = verify.headerFromValue(verify.decode(bytes(v.bytes)));
      assert.equal(hex(verify.headerHash(decoded)), v.view.hash);
    }
  });
  test("a header view with a malformed field is refused, naming it", () => {
    const view = { ...VECTORS.headers[1].view, state_root: "zz" };
    throwsRule(() => verify.headerFromJson(view), {
      code: "invalid_proof",
      message: "block header field 'state_root' is missing or malformed",
    });
  });
  test("validator sets decode, hash, and read as the node shows them", () => {
    for (const v of VECTORS.light.validator_sets) {
      const vset = verify.validatorSetFromValue(verify.decode(bytes(v.bytes)));
      assert.equal(hex(verify.validatorSetHash(vset)), v.hash);
      const view = vset.map((x) => ({
        public_key: hex(x.public_key),
        bls_key: hex(x.bls_key),
        bls_pop: hex(x.bls_pop),
        blockstake: x.blockstake,
        name: x.name,
      }));
      assert.ok(sameValue(view, v.value));
    }
  });
});

describe("BLS12-381", () => {
  const { bls } = VECTORS;
  test("KeyValidate", () => {
    for (const v of bls.key_validate) meetsVerdict(() => verify.keyValidate(bytes(v.key)), v);
  });
  test("proofs of possession, under their own tag", () => {
    for (const v of bls.possession) {
      meetsVerdict(() => verify.checkBlsRegistration(bytes(v.key), bytes(v.proof)), v);
    }
  });
  test("signatures", () => {
    for (const v of bls.verify) {
      assert.equal(verify.verify(bytes(v.key), bytes(v.message), bytes(v.signature)), v.ok, v.name);
    }
  });
  test("FastAggregateVerify", () => {
    for (const v of bls.aggregate) {
      const [keys, message] = [v.keys.map(bytes), bytes(v.message)];
      const ok = verify.fastAggregateVerify(keys, message, bytes(v.signature));
      assert.equal(ok, v.ok, v.name);
    }
  });
});
