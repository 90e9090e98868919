// The integration log: what every refresh did, per company and data type, newest first; filterable.
// Hovering or focusing an event shows the provider endpoints it called (method, path, status, time).

import { getJson } from "../api.js";
import { el, withTip } from "../dom.js";
import { navigate } from "../router.js";
import { getState, loadConnectionsUnlessFresh, subscribe } from "../store.js";
import { ago, count, DATA_TYPES, EVENT_STATUS } from "../words.js";

const EVENT_TONE = { succeeded: "good", failed: "bad", needs_attention: "warn", skipped: "" };

export function logView(container) {
  const filters = { connection_id: "", entity_id: "", data_type: "", status: "" };
  const connection = select("Connection", "All connections");
  const entity = select("Company", "All companies");
  const dataType = select("Data type", "All data types",
    Object.entries(DATA_TYPES).map(([key, label]) => [key, label]));
  const status = select("Status", "Any status", Object.entries(EVENT_STATUS));
  const list = el("ul", { class: "plain-list", "aria-label": "Integration log events" });
  const summary = el("p", { class: "secondary count", role: "status" });
  container.append(
    el("div", { class: "section-head" }, el("h2", { class: "subtitle" }, "Integration log")),
    el("div", { class: "filters" }, connection.label, entity.label, dataType.label, status.label),
    summary, list);

  const fillConnections = (state) => {
    fillOptions(connection.input, state.connections.items.map((item) => [item.id, item.name]));
    const chosen = state.connections.items.filter((item) => !filters.connection_id
      || String(item.id) === filters.connection_id);
    fillOptions(entity.input, chosen.flatMap((item) => item.selected_entities.map((e) => [e.id, e.name])));
  };
  const load = async () => {
    const params = new URLSearchParams({ per_page: "50" });
    for (const [name, value] of Object.entries(filters)) if (value) params.set(name, value);
    const page = await getJson(`/api/v1/log?${params}`);
    list.replaceChildren(...page.items.map(eventItem));
    // The service counts up to a limit: past it, the pane says "more than".
    const counted = page.total_exact ? count(page.total, "event") : `More than ${count(page.total, "event")}`;
    summary.textContent = page.total ? `${counted}, newest first` : "No events match.";
  };
  for (const [name, field] of [["connection_id", connection], ["entity_id", entity], ["data_type", dataType],
    ["status", status]]) {
    field.input.addEventListener("change", () => {
      filters[name] = field.input.value;
      if (name === "connection_id") fillConnections(getState());
      load().catch((error) => (summary.textContent = error.message));
    });
  }
  fillConnections(getState());
  const unsubscribe = subscribe(fillConnections);
  loadConnectionsUnlessFresh().catch(() => {});
  load().catch((error) => (summary.textContent = error.message));
  return unsubscribe;
}

function select(label, any, options = []) {
  const input = el("select", { class: "input" }, el("option", { value: "" }, any),
    ...options.map(([value, text]) => el("option", { value }, text)));
  return { input, label: el("label", { class: "field" }, el("span", {}, label), input) };
}

// Keeps the first option ("All …") and the current choice while the list of names changes.
function fillOptions(input, pairs) {
  const current = input.value;
  const unique = [...new Map(pairs.map(([value, text]) => [String(value), text])).entries()];
  input.replaceChildren(input.options[0], ...unique.map(([value, text]) => el("option", { value }, text)));
  input.value = unique.some(([value]) => value === current) ? current : "";
}

function eventItem(event) {
  const rows = event.rows_inserted + event.rows_updated;
  const item = el("li", { class: "event", tabindex: "0" },
    el("div", { class: "row-head" },
      el("strong", {}, `${DATA_TYPES[event.data_type] || event.data_type}: ${event.connection_name}`),
      el("span", { class: `pill ${EVENT_TONE[event.status] || ""}` }, EVENT_STATUS[event.status] || event.status)),
    el("p", { class: "secondary" }, [event.entity_name, `${count(rows, "row")} retrieved`,
      event.rows_deleted ? `${count(event.rows_deleted, "deletion")}` : null, ago(event.created_at)]
      .filter(Boolean).join(" · ")),
    event.status === "succeeded" ? null : problem(event));
  return withTip(item, el("strong", {}, "Provider endpoints"),
    ...(event.endpoints.length ? event.endpoints.map(endpointLine)
      : [el("p", { class: "endpoint" }, "No provider call was needed.")]));
}

function endpointLine(endpoint) {
  const statuses = Object.entries(endpoint.statuses || {}).map(([code, times]) => (times > 1 ? `${code} ×${times}` : code));
  const attempts = endpoint.max_attempt || 1;
  return el("p", { class: "endpoint" }, el("code", {}, `${endpoint.method} ${pathOf(endpoint.url)}`), " · ",
    `status ${statuses.join(", ") || "none"} · ${seconds(endpoint.duration_ms)} · `
    + `${count(endpoint.calls || 1, "call")} · ${count(attempts, "attempt")} at most`);
}

// The path only: the host is the provider's, and a query string is never worth showing here.
function pathOf(url) {
  try {
    return new URL(url).pathname;
  } catch {
    return String(url).split("?")[0];
  }
}

function seconds(ms) {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function problem(event) {
  const fix = event.status === "needs_attention"
    ? "Compare the accounts named above with the provider's trial balance; a full refresh reloads them."
    : "Refresh again from the Connections page. If it fails again, open the connection: it says whether to reconnect.";
  return el("div", { class: "secondary" },
    el("p", {}, `Why: ${event.detail || "The provider did not answer as expected."}`),
    el("p", {}, `What to do: ${fix} `,
      el("a", { href: `#/connections/${event.connection_id}`, onclick: (e) => {
        e.preventDefault();
        navigate(`/connections/${event.connection_id}`);
      } }, "Open the connection")));
}
