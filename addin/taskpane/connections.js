// The Connections page: the workspace header, the list of data sources (or how to add the first
// one), and the catalog of sources behind "Add data source".

import { byId, el } from "./dom.js";

// The connection states of DESIGN.md, in the user's words.
const STATUS_LABELS = {
  setup: "Setup",
  authenticated: "Authenticated",
  live: "Live",
  reauth_required: "Re-auth required",
  error: "Error",
  disconnected: "Disconnected",
};

const ROLE_LABELS = { admin: "Admin", member: "Member" };

// `catalog` is the provider list, or null when this service offers none (the button is hidden then).
export function showConnectionsPage(workspace, connections, catalog) {
  byId("workspace-name").textContent = workspace.name;
  byId("workspace-facts").textContent = [
    workspace.timezone,
    workspace.base_currency,
    ROLE_LABELS[workspace.role] || workspace.role,
  ].filter(Boolean).join(" · ");
  showCatalog(catalog);
  showConnections(connections, providerNames(catalog));
}

function showConnections(page, names) {
  const items = Array.isArray(page.items) ? page.items : [];
  const list = byId("connections-list");
  list.replaceChildren(...items.map((connection) => connectionRow(connection, names)));
  list.hidden = items.length === 0;
  byId("connections-empty").hidden = items.length > 0;

  const more = byId("connections-more");
  more.hidden = !(page.total > items.length);
  more.textContent = more.hidden ? "" : `Showing ${items.length} of ${page.total} connections.`;
}

function connectionRow(connection, names) {
  const status = String(connection.status || "");
  return el("li", { class: "connection", "data-connection-id": connection.id },
    el("div", { class: "connection-text" },
      el("span", { class: "connection-name" }, connection.name || ""),
      el("span", { class: "connection-provider secondary" }, names[connection.provider] || connection.provider || "")),
    el("span", { class: `badge status-${status.replace(/[^a-z_]/g, "")}` }, STATUS_LABELS[status] || status));
}

function showCatalog(catalog) {
  const button = byId("add-source");
  const offered = catalog !== null && catalog.length > 0;
  button.hidden = !offered;
  button.setAttribute("aria-expanded", "false");
  byId("catalog").hidden = true;
  byId("catalog-list").replaceChildren(...(offered ? catalog : []).map((provider) =>
    el("li", { class: "catalog-item" }, provider.name)));
  // Name only what this service really offers: the catalog differs between deployments.
  byId("connections-empty-hint").textContent = offered
    ? `Choose Add data source to connect ${inWords(catalog.map((provider) => provider.name))}.`
    : "This Ledgerpane service has no data sources to connect yet.";
}

export function toggleCatalog() {
  const button = byId("add-source");
  const panel = byId("catalog");
  panel.hidden = !panel.hidden;
  button.setAttribute("aria-expanded", String(!panel.hidden));
}

// Provider key -> the name the catalog gives it, e.g. "xero-sandbox" -> "Demo company (Xero sandbox)".
function providerNames(catalog) {
  return Object.fromEntries((catalog || []).map((provider) => [provider.key, provider.name]));
}

function inWords(names) {
  return names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} or ${names[names.length - 1]}`;
}
