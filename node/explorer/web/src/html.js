// Building the DOM from data without ever parsing it as HTML: text is always text.

export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      node.className = value;
    } else if (value === true) {
      node.setAttribute(name, "");
    } else {
      node.setAttribute(name, String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : String(child));
  }
}

export function link(href, text, attrs = {}) {
  return h("a", { href, ...attrs }, text);
}

// A hash or key: shortened on screen, whole in its title and for screen readers' copy.
export function code(text, shorten = true) {
  if (text === null || text === undefined) return "—";
  const value = String(text);
  const shown = shorten && value.length > 20 ? `${value.slice(0, 10)}…${value.slice(-6)}` : value;
  return h("code", { title: value }, shown);
}

let sections = 0;

export function section(title, ...children) {
  sections += 1;
  const id = `section-${sections}`;
  return h("section", { "aria-labelledby": id }, h("h2", { id }, title), ...children);
}

// A table with a caption (its accessible name) and column headers; `rows` are arrays of cells
// (strings or nodes) or {cells, attrs}. An empty table says so in one row.
export function table(caption, columns, rows, empty = "none") {
  const head = h(
    "thead",
    {},
    h(
      "tr",
      {},
      columns.map((c) => h("th", { scope: "col" }, c)),
    ),
  );
  const body = h(
    "tbody",
    {},
    rows.length === 0
      ? h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty))
      : rows.map((row) => {
          const { cells, attrs } = Array.isArray(row) ? { cells: row, attrs: {} } : row;
          return h(
            "tr",
            attrs,
            cells.map((cell) => h("td", {}, cell)),
          );
        }),
  );
  return h(
    "div",
    { class: "table-wrap", role: "region", "aria-label": caption, tabindex: 0 },
    h("table", {}, h("caption", {}, caption), head, body),
  );
}

// Field names and values as a description list; null values show as a dash.
export function fields(pairs) {
  return h(
    "dl",
    { class: "fields" },
    pairs
      .filter((pair) => pair !== null)
      .map(([name, value]) => [
        h("dt", {}, name),
        h("dd", {}, value === null || value === undefined ? "—" : value),
      ]),
  );
}

export function pager(links) {
  const items = links.filter((item) => item !== null);
  if (items.length === 0) return null;
  return h(
    "nav",
    { class: "pager", "aria-label": "pages" },
    items.map(([href, text]) => link(href, text)),
  );
}

export function badge(text, kind = text) {
  return h("span", { class: `badge badge-${kind}` }, text);
}
