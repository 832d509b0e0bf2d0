// What verifyEntry hands back once it verified an entry: the entry its verified bytes encode and
// the verified header, so a page compares what it listed (from an answer no proof covers) with
// them; entryDifferences names each field a listing shows otherwise.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HEADER_FIELDS } from "../src/verify/header.js";
import { entryDifferences, entryFromBytes, entryToJson, verifyEntry } from "../src/verify/index.js";
import { bytes, VECTORS } from "./vectors.mjs";

const { flow } = VECTORS;
const PROOF = `/v1/audit/entries/${flow.index}/proof`;
const proof = flow.api[PROOF];

/** A fetchJson over recorded answers. */
const node = (answers) => async (path) => {
  if (!(path in answers)) throw new Error(`404 ${path}`);
  return structuredClone(answers[path]);
};

const verify = (answers) =>
  verifyEntry({
    fetchJson: node(answers),
    index: flow.index,
    trustedGenesisHash: flow.trusted_genesis_hash,
  });

/** The entry as a listing (/v1/audit/entries) shows it: the proof answer's view of it. */
const listed = () => {
  const { leaf_hash: _, ...view } = structuredClone(proof.entry);
  return view;
};

describe("verifyEntry's verified entry and header", () => {
  test("the entry is the one its verified bytes encode, at the index proven", async () => {
    const result = await verify(flow.api);
    assert.equal(result.ok, true, JSON.stringify(result.steps));
    const decoded = entryToJson(entryFromBytes(bytes(proof.entry_bytes)));
    assert.deepEqual(result.entry, { index: flow.index, ...decoded });
    assert.equal(typeof result.entry.height, "bigint");
    // the node's own view of it, field by field (integers as JSON numbers there)
    assert.equal(result.entry.topic, proof.entry.topic);
    assert.equal(result.entry.data, proof.entry.data);
    assert.equal(result.entry.contract, proof.entry.contract);
    assert.equal(result.entry.height, BigInt(proof.entry.height));
    assert.equal(result.entry.tx_index, BigInt(proof.entry.tx_index));
    assert.deepEqual(entryDifferences(listed(), result.entry), []);
  });

  test("the header is the verified one: the hashed fields and the hash computed", async () => {
    const answer = structuredClone(proof);
    answer.header.note = "a field no hash covers"; // served, never verified: not handed back
    const result = await verify({ ...flow.api, [PROOF]: answer });
    assert.equal(result.ok, true, JSON.stringify(result.steps));
    assert.deepEqual(Object.keys(result.header).sort(), [...HEADER_FIELDS, "hash"].sort());
    for (const name of HEADER_FIELDS) assert.equal(result.header[name], proof.header[name]);
    assert.equal(result.header.hash, proof.header.hash);
  });

  test("a verification that fails hands back no entry and no header", async () => {
    const answer = structuredClone(proof);
    answer.proof[0] = "00".repeat(32);
    const result = await verify({ ...flow.api, [PROOF]: answer });
    assert.equal(result.ok, false);
    assert.equal(result.steps.at(-1).name, "inclusion");
    assert.equal("entry" in result, false);
    assert.equal("header" in result, false);
  });

  test("a listing that shows another topic or data beside a real proof is caught", async () => {
    // The node lists entry 3 with invented content and serves the real entry 3's proof: the
    // proof verifies, and only the comparison with the verified entry exposes the listing.
    const result = await verify(flow.api);
    assert.equal(result.ok, true);
    const lying = { ...listed(), topic: "workload_deployed", data: "a0" };
    assert.deepEqual(entryDifferences(lying, result.entry), [
      { field: "topic", shown: "workload_deployed", verified: proof.entry.topic },
      { field: "data", shown: "a0", verified: proof.entry.data },
    ]);
    const elsewhere = { ...listed(), index: flow.index + 1, height: proof.entry.height + 1 };
    assert.deepEqual(
      entryDifferences(elsewhere, result.entry).map((d) => d.field),
      ["index", "height"],
    );
    const other = `${proof.entry.contract.slice(0, -2)}00`;
    assert.deepEqual(
      entryDifferences({ ...listed(), contract: other }, result.entry).map((d) => d.field),
      ["contract"],
    );
  });
});

describe("entryDifferences", () => {
  const verified = {
    index: 7, // verifyEntry's index: the number it was asked for
    height: 12n,
    tx_index: 4294967295n,
    tx_id: "00".repeat(32),
    contract: "ab".repeat(39),
    topic: "t",
    data: "",
  };
  const shown = { ...verified, height: 12, tx_index: 4294967295 };

  test("integers compare by value, JSON number against BigInt", () => {
    assert.deepEqual(entryDifferences(shown, verified), []);
    assert.deepEqual(entryDifferences({ ...shown, leaf_hash: "ff" }, verified), []);
  });

  test("a missing, mistyped or unsafe field differs", () => {
    const fields = (listing) => entryDifferences(listing, verified).map((d) => d.field);
    const { topic: _, ...without } = shown;
    assert.deepEqual(fields(without), ["topic"]);
    assert.deepEqual(fields({ ...shown, height: "12" }), ["height"]);
    assert.deepEqual(fields({ ...shown, height: 12.5 }), ["height"]);
    assert.deepEqual(fields({ ...shown, data: "00" }), ["data"]);
    const all = ["index", "height", "tx_index", "tx_id", "contract", "topic", "data"];
    assert.deepEqual(fields(null), all); // not an entry at all: every field differs
  });
});
