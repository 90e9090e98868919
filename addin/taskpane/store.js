// The pane's state: the workspace, the catalog, the Connections list as last fetched, and how it is
// searched and sorted. Views read it and subscribe; only this module fetches the list, and it keeps
// fetching by itself (quickly while a refresh runs, slowly otherwise) so rows move without a reload.

import { getJson } from "./api.js";

const BUSY_POLL_MS = 1500;
const IDLE_POLL_MS = 20000;
export const ACTIVE_RUN = new Set(["queued", "running"]);
// The list shows this many rows at first and this many more on "Show more": a pane 350 px wide shows four or five,
// and a workspace of a thousand sources is searched, not scrolled.
export const LIST_STEP = 25;
const MAX_PER_PAGE = 200;  // the API's largest page

const state = {
  workspace: null,
  catalog: [],
  connections: { items: [], total: 0 },
  query: { q: "", sort: "name", order: "asc", shown: LIST_STEP },
};
const listeners = new Set();
let pollTimer = null;
let onPollError = () => {};

export function getState() {
  return state;
}

export function update(changes) {
  Object.assign(state, changes);
  for (const listener of [...listeners]) listener(state);
}

// Returns the unsubscribe function.
export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function connectionById(id) {
  return state.connections.items.find((connection) => connection.id === id) || null;
}

export function isRefreshing(connection) {
  return Boolean(connection.last_run && ACTIVE_RUN.has(connection.last_run.status));
}

// Each load is numbered: an answer that arrives after a newer load began (a poll still in flight when the user
// re-sorts) is dropped, so the list never jumps back to what was asked before.
let latestLoad = 0;
// The query and moment of the last answer shown, for views that load the list as they open.
let lastAnswer = { query: "", at: -Infinity };
const FRESH_MS = 2000;

// A page that shows the list loads it as it opens, unless the list was loaded a moment ago for the same search
// and order: the workspace opening, or an action just done, has loaded it already.
export function loadConnectionsUnlessFresh() {
  const fresh = lastAnswer.query === JSON.stringify(state.query) && Date.now() - lastAnswer.at < FRESH_MS;
  return fresh ? Promise.resolve() : loadConnections();
}

export async function loadConnections() {
  const query = JSON.stringify(state.query);
  const { q, sort, order, shown } = state.query;
  const perPage = Math.min(shown, MAX_PER_PAGE);
  const pages = Array.from({ length: Math.ceil(shown / perPage) }, (_, index) => {
    const params = new URLSearchParams({ sort, order, per_page: String(perPage), page: String(index + 1) });
    if (q.trim()) params.set("q", q.trim());
    return `/api/v1/connections?${params}`;
  });
  clearTimeout(pollTimer);
  const load = ++latestLoad;
  try {
    const answers = await Promise.all(pages.map((path) => getJson(path)));
    const connections = { items: answers.flatMap((answer) => answer.items).slice(0, shown), total: answers[0].total };
    if (load === latestLoad) {
      lastAnswer = { query, at: Date.now() };
      update({ connections });
    }
  } catch (error) {
    if (load === latestLoad) throw error;  // an older load's failure is old news
  } finally {
    if (load === latestLoad) schedulePoll();
  }
}

// `handler(error)` hears of a failed background fetch (the key revoked, the service gone).
export function whenPollFails(handler) {
  onPollError = handler;
}

export function stopPolling() {
  clearTimeout(pollTimer);
  pollTimer = null;
}

function schedulePoll() {
  clearTimeout(pollTimer);
  const busy = state.connections.items.some(isRefreshing);
  pollTimer = setTimeout(() => loadConnections().catch((error) => onPollError(error)),
    busy ? BUSY_POLL_MS : IDLE_POLL_MS);
}
