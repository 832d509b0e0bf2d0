// The audit log: every entry, or one contract's, each with a button that verifies it here, in
// the page: the entry's inclusion proof against a header, and that header's finality
// certificates back to the genesis header the user trusts (src/verify/, through verifier.js).
// A row's cells come from a listing the proof does not cover, so verify also compares each of
// them (and, in one contract's view, the contract) with the entry the proof verified: a row
// that shows anything else fails, and is redrawn from the verified entry.
import { decode } from "cborg";
import { fetchJson } from "../api.js";
import { h, code, link, section, table, fields, pager } from "../html.js";
import { number } from "../format.js";
import { accountLink, blockLink, hashLink, href } from "../links.js";
import { intParam } from "../router.js";
import { HEX64, nodeGenesis, pin, trusted } from "../trust.js";
import { STEPS, entryDifferences, verifyEntry } from "../verifier.js";
import { heading } from "./common.js";

const PAGE = 25;
const BLOCK_STEP = 2 ** 32 - 1; // chain/ledger/audit.py: an entry a block's own step made

export default async function audit({ parts, query }) {
  const contract = (parts[0] || "").toLowerCase();
  const [head, standard, trust, theirs] = await Promise.all([
    fetchJson("/v1/audit"),
    fetchJson("/v1/workloads?limit=1"),
    trusted(),
    nodeGenesis(),
  ]);
  const start = intParam(query, "start");
  let entries;
  let links;
  if (contract) {
    const from = start ?? 0;
    const page = await fetchJson(
      `/v1/audit/contracts/${encodeURIComponent(contract)}/entries?start=${from}&limit=${PAGE}`,
    );
    entries = page.entries;
    const next = entries.length === PAGE ? entries[entries.length - 1].index + 1 : null;
    links = [
      from > 0 ? [href.audit(contract), "First"] : null,
      next === null ? null : [`${href.audit(contract)}?start=${next}`, "Next"],
    ];
  } else {
    const from = start ?? Math.max(0, head.size - PAGE);
    const page = await fetchJson(`/v1/audit/entries?start=${from}&limit=${PAGE}`);
    entries = page.entries.slice().reverse();
    links = [
      from + PAGE < head.size
        ? [`#/audit?start=${Math.min(from + PAGE, head.size - PAGE)}`, "Newer"]
        : null,
      from > 0 ? [`#/audit?start=${Math.max(0, from - PAGE)}`, "Older"] : null,
    ];
  }
  const trustPanel = genesisPanel(trust, theirs);
  return [
    ...heading("Audit log", `${number(head.size)} entries, committed by block ${head.height}`),
    trustPanel,
    section(
      contract ? "Entries of one contract" : "All entries",
      contractForm(contract, standard.contract),
      contract
        ? h(
            "p",
            {},
            "Entries emitted by ",
            accountLink(contract),
            ", oldest first. ",
            link(href.audit(), "All entries"),
          )
        : h("p", {}, "Newest first."),
      table(
        contract ? "Entries of the contract" : "Audit entries",
        COLUMNS,
        entries.map((e) => ({ attrs: { "data-index": e.index }, cells: entryCells(e, contract) })),
        "no entries",
      ),
      pager(links),
    ),
  ];
}

const COLUMNS = ["Index", "Block", "Transaction", "Contract", "Topic", "Data", "Verification"];

// `contract`: the contract whose entries the page lists ("" for all of them).
function entryCells(e, contract) {
  const result = h("span", { class: "verdict", "data-verdict": "none", role: "status" });
  const button = h(
    "button",
    { type: "button", class: "verify", "aria-label": `Verify entry ${e.index}` },
    "Verify",
  );
  button.addEventListener("click", () => runVerify(e, contract, button, result));
  return [String(e.index), ...contentCells(e), [button, " ", result]];
}

// What a row shows of an entry, Block to Data: from the listing, or (once a verification found
// the listing lying) from the verified entry.
function contentCells(e) {
  return [
    blockLink(e.height),
    Number(e.tx_index) === BLOCK_STEP ? "block step" : hashLink(href.tx(e.tx_id), e.tx_id),
    link(href.audit(e.contract), code(e.contract)),
    e.topic,
    data(e.data),
  ];
}

// A chain step's entry carries a canonical CBOR map (chain/deployment/journal.py); a contract's
// own events are bytes of its choosing, shown in hex.
export function data(hex) {
  const bytes = new Uint8Array(hex.match(/../g)?.map((b) => parseInt(b, 16)) ?? []);
  let value = null;
  try {
    value = decode(bytes);
  } catch {
    value = null;
  }
  if (
    value === null ||
    typeof value !== "object" ||
    Array.isArray(value) ||
    value instanceof Uint8Array
  )
    return code(hex);
  return h(
    "dl",
    { class: "data" },
    Object.entries(value).map(([k, v]) => [
      h("dt", {}, k),
      h("dd", {}, v instanceof Uint8Array ? code(toHex(v)) : String(v)),
    ]),
  );
}

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// The steps of one verification, in a row of their own under the entry's, the whole table wide.
function stepsRow(row, index) {
  const next = row.nextElementSibling;
  if (next?.dataset.stepsFor === String(index)) return next.querySelector("ol");
  const list = h("ol", { class: "steps", "aria-label": `Verification of entry ${index}` });
  row.after(
    h(
      "tr",
      { class: "steps-row", "data-steps-for": index },
      h("td", { colspan: COLUMNS.length }, list),
    ),
  );
  return list;
}

async function runVerify(listed, contract, button, result) {
  const { index } = listed;
  const row = button.closest("tr");
  button.disabled = true;
  result.dataset.verdict = "running"; // before any wait: a test reads the verdict after this
  delete result.dataset.trust;
  result.textContent = "verifying…";
  const list = stepsRow(row, index);
  list.replaceChildren();
  const show = (step) => {
    const title = [...STEPS, ROW_STEP].find((s) => s.name === step.name)?.title;
    const detail = step.detail ? h("span", { class: "detail" }, `: ${step.detail}`) : null;
    list.append(
      h(
        "li",
        {
          class: step.ok ? "step-ok" : "step-failed",
          "data-step": step.name,
          "data-ok": String(step.ok),
        },
        `${step.ok ? "✓" : "✗"} ${title ?? step.name}`,
        detail,
      ),
    );
  };
  try {
    const trust = await trusted();
    if (!trust) throw new Error("no genesis header is trusted: paste its hash above");
    const outcome = await verifyEntry({
      fetchJson,
      index,
      trustedGenesisHash: trust.hash,
      onStep: show,
    });
    list.replaceChildren();
    outcome.steps.forEach(show);
    if (!outcome.ok) {
      result.textContent = "✗ failed verification";
      result.dataset.verdict = "failed";
      return;
    }
    // The proof verified entry `index`; the row's cells came from a listing, which a node can
    // fill with anything. They must show that very entry (and, here, one of this contract's).
    const lies = rowLies(listed, outcome.entry, contract);
    show(rowStep(lies, outcome.entry));
    if (lies.length) {
      redraw(row, outcome.entry);
      result.textContent =
        `✗ failed verification: ${rowVerdict(lies)} ` + "(the row now shows the verified entry)";
      result.dataset.verdict = "failed";
      return;
    }
    result.dataset.trust = trust.source;
    result.textContent =
      trust.source === "pasted"
        ? "✓ verified: in the log the trusted chain certified"
        : "✓ consistent with this node's own genesis (pinned on first use; paste the hash from " +
          "your genesis file to verify independently)";
    result.dataset.verdict = "ok";
  } catch (error) {
    result.textContent = `✗ could not verify: ${error.message}`;
    result.dataset.verdict = "failed";
  } finally {
    button.disabled = false;
  }
}

// The page's own last step: the row shows the entry the steps before verified.
const ROW_STEP = { name: "row", title: "The row shows the entry verified" };

// The fields where the row differs from the verified entry; in one contract's view, whether
// the entry is that contract's too: another's does not belong there, whatever the row says.
function rowLies(listed, verified, contract) {
  const lies = entryDifferences(listed, verified);
  const page = contract.trim();
  if (page && verified.contract !== page) {
    lies.push({ field: "contract", shown: page, verified: verified.contract, page: true });
  }
  return lies;
}

const said = (value) => (typeof value === "string" ? JSON.stringify(value) : String(value));

function rowStep(lies, verified) {
  if (lies.length === 0) {
    const detail = `its block, transaction, contract, topic and data are entry ${verified.index}'s`;
    return { name: "row", ok: true, detail };
  }
  const detail = lies
    .map((l) =>
      l.page
        ? `the page lists contract ${l.shown}'s entries; the verified entry is ${l.verified}'s`
        : `the row's ${l.field} is ${said(l.shown)}, the verified entry's ${said(l.verified)}`,
    )
    .join("; ");
  return { name: "row", ok: false, detail };
}

function rowVerdict(lies) {
  const fields = lies.filter((l) => !l.page).map((l) => l.field);
  const says = [];
  const are = fields.length === 1 ? "is" : "are";
  if (fields.length) says.push(`the row's ${fields.join(", ")} ${are} not the verified entry's`);
  if (lies.some((l) => l.page)) says.push("the verified entry is another contract's");
  return says.join("; ");
}

// The row's Block to Data cells redrawn from the verified entry, and marked as such.
function redraw(row, verified) {
  const cells = row.querySelectorAll(":scope > td");
  contentCells(verified).forEach((content, i) => {
    cells[i + 1].replaceChildren(h("span", {}, content));
    cells[i + 1].classList.add("from-verified");
  });
  row.classList.add("redrawn");
  row.dataset.shown = "verified";
  row.title = "The node listed other content for this entry: shown here is the verified entry.";
}

function contractForm(contract, standard) {
  const input = h("input", {
    id: "audit-contract",
    name: "contract",
    value: contract,
    size: 40,
    spellcheck: "false",
    autocomplete: "off",
  });
  return h(
    "form",
    {
      class: "inline-form",
      onsubmit: (event) => {
        event.preventDefault();
        const value = input.value.trim().toLowerCase();
        window.location.hash = href.audit(value);
      },
    },
    h("label", { for: "audit-contract" }, "Contract address"),
    input,
    h("button", { type: "submit" }, "Show its entries"),
    " ",
    link(href.audit(standard), "the workload contract"),
  );
}

function genesisPanel(trust, theirs) {
  const input = h("input", {
    id: "trusted-genesis",
    name: "genesis",
    value: trust ? trust.hash : "",
    size: 66,
    spellcheck: "false",
    autocomplete: "off",
    pattern: "[0-9a-fA-F]{64}",
  });
  const note = h("p", { class: "form-note", role: "status" });
  const source = !trust
    ? "nothing yet: this node holds no block 0. Paste the hash from your genesis file."
    : trust.source === "first-use"
      ? `trusted on first use: taken from this node on ${trust.at.slice(0, 10)} and checked against nothing, so Verify can only tell an entry is consistent with this node's own genesis. Paste the hash from your own genesis file to verify independently.`
      : `pasted by you on ${trust.at.slice(0, 10)}.`;
  const differs = trust && theirs && theirs !== trust.hash;
  return section(
    "Trusted genesis header",
    h(
      "p",
      {},
      "Verify checks each entry from this one header: the inclusion proof against a later header, and every finality certificate from genesis to that header. Nothing else this node says is trusted.",
    ),
    fields([
      [
        "Trusted hash",
        trust ? h("code", { id: "trusted-hash", "data-source": trust.source }, trust.hash) : "—",
      ],
      ["Where it came from", h("span", { id: "trust-source" }, source)],
      differs
        ? [
            "Warning",
            h(
              "span",
              { class: "error", role: "alert" },
              `this node's genesis header is ${theirs}: not the one you trust`,
            ),
          ]
        : null,
    ]),
    h(
      "form",
      {
        class: "inline-form",
        onsubmit: (event) => {
          event.preventDefault();
          const value = input.value.trim().toLowerCase();
          if (!HEX64.test(value)) {
            note.textContent = "a genesis header hash is 64 hex characters";
            return;
          }
          pin(value, "pasted");
          window.dispatchEvent(new HashChangeEvent("hashchange"));
        },
      },
      h("label", { for: "trusted-genesis" }, "Genesis header hash"),
      input,
      h("button", { type: "submit" }, "Trust this hash"),
      note,
    ),
    h(
      "p",
      { class: "form-note" },
      "Its hash from a genesis file: ",
      h("code", {}, "gridchain light init --genesis genesis.json --home /tmp/light --json"),
      " prints it as genesis_hash.",
    ),
  );
}
