// The Connections list: search, sort, and one row per data source that keeps itself up to date while
// refreshes run (the store polls; rows whose content changed are redrawn, keeping the keyboard focus).

import { actionBar } from "../actions.js";
import { el, withTip } from "../dom.js";
import { navigate } from "../router.js";
import {
  getState, isRefreshing, LIST_STEP, loadConnections, loadConnectionsUnlessFresh, subscribe, update,
} from "../store.js";
import { accountsLabel, ago, count, credentialsLabel, outcomeText, progressText, statusOf } from "../words.js";
import { nextRunText, scheduleText } from "./schedule.js";

// Every column but status and actions sorts (the API's sort keys).
const SORTS = {
  name: "Name", provider: "Provider", entities: "Companies", credential_status: "Credentials",
  accounts: "Accounts", schedule: "Schedule", last_run_at: "Last run", records_last_30_days: "Records (30 days)",
};
const SEARCH_DELAY_MS = 250;

export function listView(container) {
  const { query, catalog } = getState();
  const search = el("input", { class: "input", type: "search", value: query.q, placeholder: "Name, provider, company…" });
  const sort = el("select", { class: "input" },
    ...Object.entries(SORTS).map(([key, label]) => el("option", { value: key, selected: key === query.sort }, label)));
  const order = el("button", { class: "button small", type: "button", "aria-pressed": String(query.order === "desc") },
    "Descending");
  const countLine = el("p", { class: "secondary count", role: "status" });
  const list = el("ul", { class: "plain-list", "aria-label": "Connections" });
  const empty = el("div", { class: "empty", hidden: true });
  const more = el("button", { class: "button", type: "button", hidden: true });
  more.addEventListener("click", async () => {
    const before = getState().connections.items.length;
    update({ query: { ...getState().query, shown: getState().query.shown + LIST_STEP } });
    await loadConnections().catch(() => {});
    list.children[before]?.querySelector("a")?.focus();  // the first row the click brought in
  });
  const add = el("button", { class: "button primary", type: "button", hidden: catalog.length === 0,
    onclick: () => navigate("/add") }, "Add data source");

  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => requery({ q: search.value }), SEARCH_DELAY_MS);
  });
  sort.addEventListener("change", () => requery({ sort: sort.value }));
  order.addEventListener("click", () => {
    const descending = order.getAttribute("aria-pressed") !== "true";
    order.setAttribute("aria-pressed", String(descending));
    requery({ order: descending ? "desc" : "asc" });
  });

  container.append(
    el("div", { class: "section-head" }, el("h2", { class: "subtitle" }, "Connections"), add),
    el("p", {}, el("a", { href: "#/workbook" }, "Load into workbook…")),
    el("div", { class: "toolbar" },
      el("label", { class: "field search" }, el("span", {}, "Search"), search),
      el("div", { class: "sort" }, el("label", { class: "field" }, el("span", {}, "Sort by"), sort), order)),
    countLine, empty, list, more);

  const draw = (state) => {
    const items = state.connections.items;
    const searching = Boolean(state.query.q.trim());
    patchRows(list, items);
    list.hidden = items.length === 0;
    empty.hidden = items.length > 0;
    empty.replaceChildren(...emptyState(searching, state.query.q, state.catalog));
    const { total } = state.connections;
    const all = count(total, "connection");
    countLine.textContent = !items.length ? "" : items.length < total ? `Showing ${items.length} of ${all}` : all;
    more.hidden = items.length === 0 || items.length >= total;
    more.textContent = `Show ${Math.min(LIST_STEP, total - items.length)} more`;
  };
  draw(getState());
  const unsubscribe = subscribe(draw);
  loadConnectionsUnlessFresh().catch(() => {});
  return () => {
    clearTimeout(searchTimer);
    unsubscribe();
  };
}

function requery(changes) {
  update({ query: { ...getState().query, ...changes, shown: LIST_STEP } });  // a new search or order starts short
  loadConnections().catch(() => {});
}

function emptyState(searching, q, catalog) {
  if (searching) return [el("p", { class: "empty-title" }, `No connection matches “${q.trim()}”.`)];
  const names = catalog.map((provider) => provider.name);
  return [
    el("p", { class: "empty-title" }, "No data sources yet."),
    el("p", { class: "secondary" }, names.length
      ? `Choose Add data source to connect ${inWords(names)}. You sign in at the provider, pick your companies, `
        + "and Ledgerpane loads their ledgers."
      : "This Ledgerpane service has no data sources to connect yet."),
  ];
}

// Redraw only rows whose content changed, and give the focus back to the same control in a redrawn row (to the
// row's name where that control is now disabled, as Refresh is while its refresh runs).
function patchRows(list, items) {
  const existing = new Map([...list.children].map((row) => [row.dataset.id, row]));
  const rows = items.map((connection) => {
    const signature = JSON.stringify(connection) + ago(connection.last_run && connection.last_run.queued_at);
    const old = existing.get(String(connection.id));
    if (old && (old.dataset.signature === signature || old.querySelector('[aria-expanded="true"]'))) return old;
    const row = connectionRow(connection);
    row.dataset.signature = signature;
    if (old && old.contains(document.activeElement)) {
      const key = document.activeElement.dataset.focus;
      const again = () => row.querySelector(`[data-focus="${key}"]:not(:disabled)`) || row.querySelector("a");
      queueMicrotask(() => again().focus());
    }
    return row;
  });
  // Touch only what changed: taking a row out of the page, even to put it back, blurs whatever has the focus in
  // it, and an open "More actions" menu closes on that blur.
  const before = [...list.children];
  const sameOrder = rows.length === before.length && rows.every((row, i) => row.dataset.id === before[i].dataset.id);
  if (!sameOrder) {
    list.replaceChildren(...rows);
    return;
  }
  rows.forEach((row, i) => {
    if (row !== before[i]) before[i].replaceWith(row);
  });
}

function connectionRow(connection) {
  const status = statusOf(connection);
  const link = el("a", { href: `#/connections/${connection.id}`, class: "connection-name", "data-focus": "name" },
    connection.name);
  const pill = withTip(el("span", { class: `pill ${status.tone}`, tabindex: "0" }, el("span", {}, status.label)), status.tip);
  const entities = connection.selected_entities.map((entity) => entity.name).join(", ") || "None chosen";
  const run = connection.last_run;
  const row = el("li", { class: "connection", "data-id": connection.id },
    el("div", { class: "row-head" }, link, pill),
    el("p", { class: "secondary" }, connection.provider_name),
    el("dl", { class: "facts" },
      fact("Companies", entities),
      fact("Credentials", credentialsLabel(connection)),
      fact("Accounts", accountsLabel(connection)),
      fact("Schedule", scheduleText(connection.schedule)),
      fact("Next run", nextRunText(connection)),
      fact("Last run", run ? ago(run.finished_at || run.started_at || run.queued_at) : "Never"),
      fact("Records (30 days)", Number(connection.records_last_30_days).toLocaleString("en-GB"))),
    runLine(connection),
    actionBar(connection));
  // Anywhere on the row opens the details, as the name's link does for the keyboard.
  row.addEventListener("click", (event) => {
    if (!event.target.closest("a, button, input, select, .has-tip, [role=menu]")) navigate(`/connections/${connection.id}`);
  });
  return row;
}

function fact(term, value) {
  return [el("dt", {}, term), el("dd", {}, value)];
}

export function runLine(connection) {
  const run = connection.last_run;
  if (!run) return null;
  if (isRefreshing(connection)) {
    return el("div", { class: "progress" },
      el("div", { class: "bar", role: "progressbar", "aria-label": `Refreshing ${connection.name}` }),
      el("span", {}, progressText(run)));
  }
  return el("p", { class: `progress ${run.status === "failed" ? "outcome-bad" : "secondary"}` },
    `Last refresh: ${outcomeText(run)}${run.status === "failed" && run.error ? `. ${run.error}` : ""}`);
}

function inWords(names) {
  return names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}
