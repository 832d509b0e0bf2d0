// Where each thing of the chain lives in the explorer (hash routes).
import { link, code } from "./html.js";

export const href = {
  block: (ref) => `#/block/${ref}`,
  tx: (id) => `#/tx/${id}`,
  account: (address) => `#/account/${address}`,
  node: (id) => `#/node/${id}`,
  farm: (id) => `#/farm/${id}`,
  workload: (id) => `#/workload/${id}`,
  audit: (contract) => (contract ? `#/audit/${contract}` : "#/audit"),
};

export const blockLink = (height) => link(href.block(height), String(height));
export const hashLink = (target, hash) => link(target, code(hash));
export const accountLink = (address) =>
  address ? link(href.account(address), code(address)) : "—";
export const nodeLink = (id) => (id ? link(href.node(id), `node ${id}`) : "—");
export const farmLink = (id, name) => link(href.farm(id), name ? `${name} (#${id})` : `farm ${id}`);
export const workloadLink = (id, name) =>
  link(href.workload(id), name ? `${name} (#${id})` : `workload ${id}`);
