// The latest blocks, newest first, a page at a time (GET /v1/blocks?before=&limit=).
import { fetchJson } from "../api.js";
import { code, table, pager } from "../html.js";
import { bytes, number, time } from "../format.js";
import { blockLink, hashLink, href } from "../links.js";
import { intParam } from "../router.js";
import { heading, validatorNames } from "./common.js";

const PAGE = 25;

export function blocksTable(caption, blocks, names) {
  return table(
    caption,
    ["Height", "Hash", "Time", "Proposer", "Transactions", "Size", "Audit log size"],
    blocks.map((b) => ({
      attrs: { "data-height": b.height },
      cells: [
        blockLink(b.height),
        hashLink(href.block(b.hash), b.hash),
        time(b.time_ms),
        names.get(b.proposer) || code(b.proposer),
        number(b.tx_count),
        bytes(b.size),
        number(b.audit_size),
      ],
    })),
    "no blocks",
  );
}

export default async function blocks({ query }) {
  const before = intParam(query, "before");
  const path =
    before === null ? `/v1/blocks?limit=${PAGE}` : `/v1/blocks?limit=${PAGE}&before=${before}`;
  const [page, names] = await Promise.all([fetchJson(path), validatorNames()]);
  const first = page.blocks.length ? page.blocks[0].height : null;
  const last = page.blocks.length ? page.blocks[page.blocks.length - 1].height : null;
  return [
    ...heading(
      "Blocks",
      first === null ? "none" : `heights ${last} to ${first}; the head is at ${page.height}`,
    ),
    blocksTable("Blocks", page.blocks, names),
    pager([
      before === null ? null : ["#/blocks", "Newest"],
      first !== null && first < page.height
        ? [`#/blocks?before=${Math.min(page.height + 1, first + 1 + PAGE)}`, "Newer"]
        : null,
      page.next_before === null ? null : [`#/blocks?before=${page.next_before}`, "Older"],
    ]),
  ];
}
