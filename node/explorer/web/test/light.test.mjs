// Certificates and light blocks of a real chain whose council changes its validator set, and
// blocks that lie: the same verdicts (codes and messages) as chain/light/verify.py.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as verify from "../src/verify/index.js";
import { VECTORS, bytes, meetsVerdict, throwsRule } from "./vectors.mjs";

const { light } = VECTORS;
/** A light block of the vectors: by height, or its bytes when it is a tampered one. */
const block = (ref) =>
  verify.decodeLightBlock(bytes(typeof ref === "number" ? light.blocks[ref] : ref));

describe("light blocks", () => {
  test("every height decodes, genesis without a certificate", () => {
    light.blocks.forEach((raw, height) => {
      const decoded = verify.decodeLightBlock(bytes(raw));
      assert.equal(decoded.header.height, BigInt(height));
      assert.equal(decoded.commit === null, height === 0);
    });
  });
  test("malformed light blocks are refused as the Python decoder refuses them", () => {
    for (const v of light.refused_blocks) {
      throwsRule(() => verify.decodeLightBlock(bytes(v.bytes)), v.error);
    }
  });
  test("certificates: more than 2/3 of the set, one aggregate signature, this chain", () => {
    for (const v of light.certificates) {
      meetsVerdict(() => verify.checkLightBlock(v.chain_id, block(v.block)), v);
    }
  });
  test("adjacent and skipping verification, and blocks that lie", () => {
    for (const v of light.verify) {
      const [trusted, untrusted] = [block(v.trusted), block(v.untrusted)];
      meetsVerdict(() => verify.verifyLightBlock(v.chain_id, trusted, untrusted), v);
    }
  });
});
