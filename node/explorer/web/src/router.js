// Hash routes: "#/block/12?x=1" is the page "block" with parts ["12"] and query {x: "1"}.
// The explorer is static files; the hash keeps every page a link that works after a reload.

export function parseHash(hash) {
  const text = hash.replace(/^#\/?/, "");
  const [path, search = ""] = text.split("?", 2);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const query = Object.fromEntries(new URLSearchParams(search));
  return { page: parts[0] || "", parts: parts.slice(1), query };
}

// An integer query parameter, or `fallback` when it is absent or not a whole number.
export function intParam(query, name, fallback = null) {
  const value = query[name];
  return value !== undefined && /^\d{1,18}$/.test(value) ? Number(value) : fallback;
}
