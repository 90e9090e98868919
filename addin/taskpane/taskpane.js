// The task pane's entry point: find the workspace key, then show the Connections page or sign-in.
// Runs the same in Excel and in a plain browser; host.js is the only module that knows the difference.

import { notify } from "./actions.js";
import { ApiError, getJson, NetworkError, useKey } from "./api.js";
import { announce, byId } from "./dom.js";
import { detectHost } from "./host.js";
import { forgetKey, saveKey, storedKey, takeKeyFromAddress } from "./key.js";
import { route, startRouter, stopRouter } from "./router.js";
import { focusSignIn, listenForSignIn, prepareSignIn } from "./signin.js";
import { getState, loadConnections, stopPolling, update, whenPollFails } from "./store.js";
import { detailsView } from "./views/details.js";
import { dimensionsView } from "./views/dimensions.js";
import { fieldTypesView } from "./views/fields.js";
import { listView } from "./views/list.js";
import { logView } from "./views/log.js";
import { mappingChangesView, mappingView } from "./views/mapping.js";
import { addView, companiesView, reconnectView } from "./views/wizard.js";
import { workbookView } from "./views/workbook.js";

const KEY_REJECTED = "That workspace key was not accepted";
const VIEWS = ["loading-view", "sign-in-view", "app"];
const ROLE_LABELS = { admin: "Admin", member: "Member" };

route("/connections", listView);
route("/connections/:id", detailsView);
route("/connections/:id/reconnect", reconnectView);
route("/connections/:id/companies", companiesView);
route("/connections/:id/mapping", mappingView);
route("/connections/:id/mapping/changes", mappingChangesView);
route("/connections/:id/fields", fieldTypesView);
route("/add", addView);
route("/log", logView);
route("/dimensions", dimensionsView);
route("/workbook", workbookView);

function start() {
  // First, before anything else can run: the key must leave the address bar at once.
  const keyFromAddress = takeKeyFromAddress();
  if (keyFromAddress) saveKey(keyFromAddress);

  detectHost().then((host) => {
    document.documentElement.dataset.host = host;
  });
  listenForSignIn((key) => openWorkspace(key, { fromSignIn: true }));
  byId("sign-out").addEventListener("click", signOut);
  byId("banner-retry").addEventListener("click", () => retryBanner && retryBanner());
  whenPollFails((error) => {
    if (error instanceof ApiError && error.status === 401) {
      forgetKey();
      showSignIn(KEY_REJECTED);
    }
  });

  const key = storedKey();
  if (key) {
    openWorkspace(key);
  } else {
    showSignIn();
  }
}

async function openWorkspace(key, { fromSignIn = false } = {}) {
  hideBanner();
  if (!fromSignIn) showView("loading-view");
  announce("Loading your workspace…");
  useKey(key);
  try {
    const [workspace, catalog] = await Promise.all([getJson("/api/v1/workspace"), providerCatalog()]);
    update({ workspace, catalog });
    await loadConnections();
    saveKey(key);
    showWorkspace(workspace);
    const total = getState().connections.total;
    announce(`${workspace.name}: ${total} ${total === 1 ? "connection" : "connections"}.`);
  } catch (error) {
    stopPolling();
    if (error instanceof ApiError && error.status === 401) {
      forgetKey();
      showSignIn(KEY_REJECTED);
    } else {
      // From sign-in the form stays on screen; at start there is nothing to show but the banner.
      if (!fromSignIn) showView(null);
      const known = error instanceof ApiError || error instanceof NetworkError;
      showBanner(known ? error.message : "Something went wrong in Ledgerpane.", () => openWorkspace(key, { fromSignIn }));
      if (!known) throw error; // a bug: let it reach the console (and fail the browser tests)
    }
  }
}

function showWorkspace(workspace) {
  byId("workspace-name").textContent = workspace.name;
  byId("workspace-facts").textContent = [workspace.timezone, workspace.base_currency,
    ROLE_LABELS[workspace.role] || workspace.role].filter(Boolean).join(" · ");
  showView("app");
  startRouter(byId("view"), "/connections", (path) => {
    markPage(path);
    notify("");
  });
  if (!byId("view").contains(document.activeElement)) byId("workspace-name").focus();
}

// The tab of the page on screen; the wizard and the details belong to Connections.
const TABS = ["log", "dimensions", "workbook"];

function markPage(path) {
  const page = TABS.find((tab) => path.startsWith(`/${tab}`)) ?? "connections";
  for (const link of byId("pages").querySelectorAll("a")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

// The provider catalog, or [] where this service has none for us (404 not built, 403 not allowed):
// then there is nothing to add, and the pane says so instead of offering a button that cannot work.
async function providerCatalog() {
  try {
    return (await getJson("/api/v1/providers")).items;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 403)) return [];
    throw error;
  }
}

function signOut() {
  stopPolling();
  stopRouter();
  forgetKey();
  showSignIn();
  announce("Signed out.");
}

function showSignIn(message = "") {
  stopPolling();
  prepareSignIn(message);
  showView("sign-in-view");
  focusSignIn();
}

function showView(id) {
  for (const view of VIEWS) byId(view).hidden = view !== id;
  byId("footer").hidden = id !== "app";
}

let retryBanner = null;

function showBanner(message, retry) {
  byId("banner-text").textContent = message;
  byId("banner").hidden = false;
  retryBanner = retry;
  byId("banner-retry").focus();
}

function hideBanner() {
  byId("banner").hidden = true;
  retryBanner = null;
}

start();
