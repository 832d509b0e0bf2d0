// verifyEntry over the real node API's answers (recorded by tests/vectors/explorer.py), whole
// and one light block at a time, and over tampered copies: the same steps, and the same error
// where one fails, as the Python reference flow (tests/vectors/explorer_flow.py).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { STEPS, verifyEntry } from "../src/verify/index.js";
import { VECTORS } from "./vectors.mjs";

const { flow } = VECTORS;
const TRUSTING = { index: flow.index, trustedGenesisHash: flow.trusted_genesis_hash };

/** A fetchJson over recorded answers; it records the paths asked for. */
function node(answers) {
  const asked = [];
  const fetchJson = async (path) => {
    asked.push(path);
    if (!(path in answers)) throw new Error(`404 ${path}`);
    return structuredClone(answers[path]);
  };
  return { fetchJson, asked };
}

const steps = (result) => result.steps.map(({ name, ok }) => ({ name, ok }));

describe("verifyEntry", () => {
  test("an entry of the real chain verifies from genesis, step by step", async () => {
    const { fetchJson, asked } = node(flow.api);
    const seen = [];
    const result = await verifyEntry({
      fetchJson,
      index: flow.index,
      trustedGenesisHash: flow.trusted_genesis_hash,
      onStep: (step) => seen.push(step),
    });
    assert.equal(result.ok, true, JSON.stringify(result.steps));
    assert.deepEqual(steps(result), flow.steps);
    assert.deepEqual(seen, result.steps);
    assert.deepEqual(result.steps.map((s) => s.name), STEPS.map((s) => s.name));
    assert.equal(result.header.hash, flow.api[`/v1/audit/entries/${flow.index}/proof`].header.hash);
    assert.deepEqual(new Set(asked), new Set(Object.keys(flow.api)));
  });

  test("a light path that comes in parts is asked for again from where it stopped", async () => {
    const { fetchJson, asked } = node({ ...flow.api, ...flow.paged_answers });
    const result = await verifyEntry({ fetchJson, ...TRUSTING });
    assert.equal(result.ok, true, JSON.stringify(result.steps));
    const paths = asked.filter((path) => path.startsWith("/v1/light/path"));
    assert.deepEqual(paths, Object.keys(flow.paged_answers));
  });

  for (const tampered of flow.tampered) {
    test(`refuses ${tampered.name}`, async () => {
      const { fetchJson } = node({ ...flow.api, ...tampered.replace });
      const seen = [];
      const result = await verifyEntry({
        fetchJson,
        index: flow.index,
        trustedGenesisHash: tampered.trusted_genesis_hash,
        onStep: (step) => seen.push(step),
      });
      assert.equal(result.ok, false);
      assert.deepEqual(steps(result), tampered.steps);
      assert.equal(result.steps.at(-1).detail, tampered.error.message);
      assert.deepEqual(seen, result.steps);
    });
  }

  test("an answer the node cannot give stops the step that needed it", async () => {
    const { [`/v1/light/0`]: _, ...rest } = flow.api;
    const { fetchJson } = node(rest);
    const result = await verifyEntry({ fetchJson, ...TRUSTING });
    assert.equal(result.ok, false);
    assert.deepEqual(result.steps.at(-1), {
      name: "light_path",
      ok: false,
      detail: "could not fetch /v1/light/0: 404 /v1/light/0",
    });
  });

  test("a trusted hash that is not 32 bytes is the caller's mistake", async () => {
    const { fetchJson, asked } = node(flow.api);
    for (const wrong of [{ trustedGenesisHash: "ab" }, { trustedGenesisHash: "zz".repeat(32) }]) {
      await assert.rejects(verifyEntry({ fetchJson, ...TRUSTING, ...wrong }), TypeError);
    }
    await assert.rejects(verifyEntry({ fetchJson, ...TRUSTING, index: -1 }), TypeError);
    assert.deepEqual(asked, []);
  });
});
