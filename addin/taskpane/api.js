// Talking to the Ledgerpane service: the bearer key on every request, and one error shape out.
//
// The service answers errors as {"error": {"code", "message", "field"}}. Callers get either the
// parsed body, an ApiError carrying those fields and the HTTP status, or a NetworkError when the
// service could not be reached at all (that one deserves a Retry, the others usually do not).

const REQUEST_DEADLINE_MS = 20000;
// A request line may hold 8,190 bytes (server/config.py), as most proxies take 8 KB: an address past this one
// (hundreds of accounts chosen in a workbook filter) is refused here, in words, not sent.
const LONGEST_ADDRESS = 8000;

let workspaceKey = null;

export class ApiError extends Error {
  constructor(status, code, message, field = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export class NetworkError extends Error {
  constructor(message) {
    super(message);
    this.name = "NetworkError";
  }
}

// Every request after this carries the key.
export function useKey(key) {
  workspaceKey = key;
}

export function getJson(path) {
  return request("GET", path);
}

export function sendJson(method, path, body = undefined) {
  return request(method, path, body);
}

// A file's bytes (an .xlsx), with the key in the header as always: never in an address, where it would reach
// logs and history. Files take longer than JSON, so they get a longer deadline.
export async function getBlob(path, deadlineMs) {
  const response = await send("GET", path, { Authorization: `Bearer ${workspaceKey}` }, undefined, deadlineMs);
  if (response.ok) return response.blob();
  throw errorFrom(response.status, await response.json().catch(() => null));
}

async function request(method, path, body) {
  const headers = { Authorization: `Bearer ${workspaceKey}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await send(method, path, headers, body, REQUEST_DEADLINE_MS);
  const answer = await response.json().catch(() => null);
  if (response.ok && answer !== null) return answer;
  throw errorFrom(response.status, answer);
}

async function send(method, path, headers, body, deadlineMs) {
  if (path.length > LONGEST_ADDRESS) {
    throw new ApiError(414, "uri_too_long", "Too many choices to send in one request: choose fewer "
      + "(where nothing is chosen in a group, all of it is taken).");
  }
  try {
    return await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      signal: AbortSignal.timeout(deadlineMs),
    });
  } catch (error) {
    const slow = error && error.name === "TimeoutError";
    throw new NetworkError(slow
      ? "Ledgerpane's service is taking too long to answer."
      : "Ledgerpane can't reach its service. Check your connection, then retry.");
  }
}

function errorFrom(status, body) {
  const detail = (body && typeof body.error === "object" && body.error) || {};
  const message = typeof detail.message === "string" && detail.message
    ? detail.message
    : `Ledgerpane's service answered with an unexpected response (HTTP ${status}).`;
  return new ApiError(status, detail.code || `http_${status}`, message, detail.field ?? null);
}
