// The node's HTTP API at the page's own origin: every answer is JSON, every error
// {"error": {"code", "message"}} (node/api/app.py), thrown here as an ApiError.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
  }
}

// GET an API path ("/v1/...") and return its parsed JSON; what verifyEntry is given too.
export async function fetchJson(path) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "application/json" } });
  } catch (error) {
    throw new ApiError(0, "unreachable", `the node did not answer ${path}: ${error.message}`);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError(
      response.status,
      "not_json",
      `${path} answered HTTP ${response.status}, not JSON`,
    );
  }
  if (!response.ok) {
    const error = body && body.error ? body.error : {};
    throw new ApiError(
      response.status,
      error.code || `http_${response.status}`,
      error.message || `HTTP ${response.status}`,
    );
  }
  return body;
}

// The answer, or null when the node has no such thing (404).
export async function fetchOrNull(path) {
  try {
    return await fetchJson(path);
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

// Every item of a paged list: `next` names the cursor field of the answer (next_start,
// next_before) and `param` the query parameter it goes back as; at most `maxPages` pages.
export async function fetchAll(path, key, next, param, maxPages = 20) {
  const items = [];
  let cursor = null;
  for (let page = 0; page < maxPages; page += 1) {
    const sep = path.includes("?") ? "&" : "?";
    const body = await fetchJson(cursor === null ? path : `${path}${sep}${param}=${cursor}`);
    items.push(...body[key]);
    cursor = body[next];
    if (cursor === null || cursor === undefined) break;
  }
  return items;
}
