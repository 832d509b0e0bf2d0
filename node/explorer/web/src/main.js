// The explorer: a static single-page app over the node's own HTTP API (same origin), served by
// the node at /explorer/. Each page is a module that turns the API's answers into DOM.
import { ApiError } from "./api.js";
import { h } from "./html.js";
import { parseHash } from "./router.js";
import { search } from "./search.js";
import overview from "./pages/overview.js";
import blocks from "./pages/blocks.js";
import block from "./pages/block.js";
import tx from "./pages/tx.js";
import account from "./pages/account.js";
import validators from "./pages/validators.js";
import farms from "./pages/farms.js";
import farm from "./pages/farm.js";
import node from "./pages/node.js";
import workloads from "./pages/workloads.js";
import workload from "./pages/workload.js";
import map from "./pages/map.js";
import audit from "./pages/audit.js";

const PAGES = {
  "": overview,
  blocks,
  block,
  tx,
  account,
  validators,
  farms,
  farm,
  node,
  workloads,
  workload,
  map,
  audit,
};
const NAV = [
  ["", "Overview"],
  ["blocks", "Blocks"],
  ["validators", "Validators"],
  ["farms", "Farms"],
  ["workloads", "Workloads"],
  ["map", "Map"],
  ["audit", "Audit log"],
];
// The nav entry a page belongs to (a block belongs to Blocks).
const SECTION = {
  block: "blocks",
  tx: "blocks",
  account: "blocks",
  farm: "farms",
  node: "farms",
  workload: "workloads",
};

let rendering = 0;

function layout() {
  const main = h("main", { id: "main", tabindex: -1 });
  const nav = h(
    "nav",
    { "aria-label": "explorer" },
    h(
      "ul",
      {},
      NAV.map(([page, text]) =>
        h("li", {}, h("a", { href: `#/${page}`, "data-page": page }, text)),
      ),
    ),
  );
  const header = h(
    "header",
    { class: "site" },
    h("a", { class: "skip", href: "#main", onclick: skipToMain }, "Skip to content"),
    h("p", { class: "brand" }, h("a", { href: "#/" }, "gridchain explorer")),
    nav,
    search(),
  );
  const app = document.querySelector("#app");
  app.replaceWith(header, main);
  return main;
}

function skipToMain(event) {
  event.preventDefault();
  document.querySelector("#main").focus();
}

async function render(main) {
  const route = parseHash(window.location.hash);
  const page = PAGES[route.page];
  const token = ++rendering;
  const current = SECTION[route.page] ?? route.page;
  for (const a of document.querySelectorAll("nav a[data-page]")) {
    if (a.dataset.page === current) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  main.setAttribute("aria-busy", "true");
  main.replaceChildren(h("p", { class: "loading" }, "Loading…"));
  let content;
  try {
    if (!page) throw new ApiError(404, "not_found", `there is no page "${route.page}"`);
    content = await page(route);
  } catch (error) {
    console.warn(error);
    content = failure(error);
  }
  if (token !== rendering) return; // a newer navigation won
  main.replaceChildren(...[content].flat());
  main.removeAttribute("aria-busy");
  main.dataset.rendered = window.location.hash || "#/"; // what the page now shows
  const title = main.querySelector("h1");
  document.title = title ? `${title.textContent} · gridchain explorer` : "gridchain explorer";
  if (document.activeElement !== document.body && !main.contains(document.activeElement)) return;
  title?.setAttribute("tabindex", "-1");
  title?.focus({ preventScroll: true });
}

function failure(error) {
  const what =
    error instanceof ApiError ? `${error.message} (${error.code})` : String(error.message || error);
  return [
    h(
      "h1",
      {},
      error instanceof ApiError && error.status === 404 ? "Not found" : "Something went wrong",
    ),
    h("p", { class: "error", role: "alert" }, what),
  ];
}

const main = layout();
window.addEventListener("hashchange", () => render(main));
render(main);
