// The genesis header the audit page's verifier starts from. Trust on first use: the first
// time, the hash of this node's block 0 is pinned in the browser (localStorage) and labelled
// so; an auditor replaces it with the hash from their own genesis file
// (`gridchain light init --genesis FILE --json` prints it as genesis_hash). A hash pinned on
// first use came from the node being checked, so a verification from it only shows an entry
// consistent with this node's own chain: the audit page words its verdict by `source`.
import { fetchJson } from "./api.js";

const KEY = "gridchain.explorer.trusted-genesis";
export const HEX64 = /^[0-9a-f]{64}$/;

export function pinned() {
  try {
    const value = JSON.parse(window.localStorage.getItem(KEY));
    return value && HEX64.test(value.hash) ? value : null;
  } catch {
    return null;
  }
}

export function pin(hash, source) {
  const value = { hash: hash.toLowerCase(), source, at: new Date().toISOString() };
  window.localStorage.setItem(KEY, JSON.stringify(value));
  return value;
}

// This node's genesis header hash, or null when it holds no block 0 (it began from a snapshot).
export async function nodeGenesis() {
  try {
    return (await fetchJson("/v1/blocks/0")).header.hash;
  } catch {
    return null;
  }
}

// The pinned hash; on first use, this node's, pinned as such.
export async function trusted() {
  const current = pinned();
  if (current) return current;
  const hash = await nodeGenesis();
  return hash ? pin(hash, "first-use") : null;
}
