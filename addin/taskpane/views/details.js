// One connection in full: provider, business account, dates, companies, data types, recent runs, and
// when something is wrong, what it is in plain words and the action that fixes it.

import { actionBar, refresh } from "../actions.js";
import { getJson } from "../api.js";
import { el, icon, withTip } from "../dom.js";
import { navigate } from "../router.js";
import { connectionById, getState, loadConnections, subscribe } from "../store.js";
import { DATA_TYPES, outcomeText, problemOf, progressText, statusOf, when } from "../words.js";
import { runLine } from "./list.js";
import { fieldTypesSection } from "./fields.js";
import { mappingSection } from "./mapping.js";
import { scheduleSection, scheduleText } from "./schedule.js";

export function detailsView(container, { id }) {
  const connectionId = Number(id);
  const body = el("div", {}, el("p", { class: "secondary" }, "Loading…"));
  container.append(backButton(), body);
  let shown = "";
  let extras = { entities: [], runs: [] };

  const draw = async () => {
    const connection = connectionById(connectionId) || await fetchOne(connectionId);
    if (!connection) {
      body.replaceChildren(el("p", {}, "This connection no longer exists."));
      return;
    }
    const signature = JSON.stringify(connection);
    if (signature === shown) return;
    const focusKey = body.contains(document.activeElement) ? document.activeElement.dataset.focus : null;
    shown = signature;
    extras = await fetchExtras(connectionId).catch(() => extras);
    body.replaceChildren(...details(connection, extras).filter(Boolean));
    // Refresh is disabled while its refresh runs: the focus then waits on the heading, not on the page's body.
    if (focusKey) (body.querySelector(`[data-focus="${focusKey}"]:not(:disabled)`) || body.querySelector("h2")).focus();
  };
  draw().then(() => container.querySelector("h2")?.focus());
  const unsubscribe = subscribe(() => draw().catch(() => {}));
  if (!connectionById(connectionId)) loadConnections().catch(() => {});
  const onKey = (event) => {
    if (event.key === "Escape" && !document.querySelector("dialog[open], [aria-expanded='true']")) {
      navigate("/connections");
    }
  };
  document.addEventListener("keydown", onKey);
  return () => {
    unsubscribe();
    document.removeEventListener("keydown", onKey);
  };
}

export function backButton(label = "Connections", path = "/connections") {
  return el("button", { class: "button small back", type: "button", onclick: () => navigate(path) },
    icon("back"), `Back to ${label}`);
}

async function fetchOne(id) {
  try {
    return await getJson(`/api/v1/connections/${id}`);
  } catch {
    return null;
  }
}

async function fetchExtras(id) {
  const [entities, runs] = await Promise.all([
    getJson(`/api/v1/connections/${id}/entities`),
    getJson(`/api/v1/runs?connection_id=${id}&per_page=5`),
  ]);
  return { entities: entities.items, runs: runs.items };
}

function details(connection, { entities, runs }) {
  const status = statusOf(connection);
  const role = getState().workspace.role;
  return [
    el("div", { class: "section-head" },
      el("h2", { class: "subtitle", tabindex: "-1" }, connection.name),
      withTip(el("span", { class: `pill ${status.tone}`, tabindex: "0" }, el("span", {}, status.label)), status.tip)),
    problem(connection, role),
    runLine(connection),
    actionBar(connection),
    el("dl", { class: "facts card" },
      fact("Provider", connection.provider_name),
      fact("Business account", connection.business_account || "Not known yet"),
      fact("Account id", connection.business_account_id || "Not known yet"),
      fact("Created", when(connection.created_at)),
      fact("Last authorization", when(connection.last_authorized_at)),
      fact("Schedule", scheduleText(connection.schedule)),
      fact("Records (30 days)", Number(connection.records_last_30_days).toLocaleString("en-GB"))),
    scheduleSection(connection, role),
    mappingSection(connection, role),
    fieldTypesSection(connection, role),
    section("Companies and ledgers", entities.length
      ? el("ul", { class: "plain-list entities" }, ...entities.map((entity) => el("li", {},
        `${entity.name}: ${entity.selected ? "selected" : "not selected"}${entity.available ? "" : " (no longer offered)"}`)))
      : el("p", { class: "secondary" }, "None listed yet.")),
    section("Data types", el("p", {}, connection.data_types.map((key) => DATA_TYPES[key] || key).join(", "))),
    section("Recent runs", runs.length
      ? el("ul", { class: "plain-list runs" }, ...runs.map((run) => el("li", {},
        run.status === "running" || run.status === "queued" ? progressText(run) : outcomeText(run),
        run.error ? el("p", { class: "secondary" }, run.error) : null)))
      : el("p", { class: "secondary" }, "No refresh yet.")),
  ];
}

function problem(connection, role) {
  const found = problemOf(connection);
  if (!found) return null;
  const can = new Set(connection.actions);
  let fix;
  if (found.fix === "reconnect") {
    fix = can.has("reconnect")
      ? el("button", { class: "button small primary", type: "button", "data-focus": "fix",
        onclick: () => navigate(`/connections/${connection.id}/reconnect`) },
      connection.status === "setup" ? "Finish sign-in" : "Reconnect")
      : el("p", {}, role === "admin" ? "" : "Ask a workspace admin to reconnect it.");
  } else if (can.has("refresh")) {
    fix = el("button", { class: "button small", type: "button", "data-focus": "fix", onclick: () => refresh(connection) },
      "Refresh again");
  }
  return el("div", { class: "message", role: "alert" }, el("p", {}, found.text), fix);
}

function section(title, content) {
  return el("section", { class: "card" }, el("h3", {}, title), content);
}

function fact(term, value) {
  return [el("dt", {}, term), el("dd", {}, value)];
}
