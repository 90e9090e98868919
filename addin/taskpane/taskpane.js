// The task pane's entry point: find the workspace key, then show the Connections page or sign-in.
// Runs the same in Excel and in a plain browser; host.js is the only module that knows the difference.

import { ApiError, getJson, NetworkError } from "./api.js";
import { showConnectionsPage, toggleCatalog } from "./connections.js";
import { byId } from "./dom.js";
import { detectHost } from "./host.js";
import { forgetKey, saveKey, storedKey, takeKeyFromAddress } from "./key.js";
import { focusSignIn, listenForSignIn, prepareSignIn } from "./signin.js";

const KEY_REJECTED = "That workspace key was not accepted";
const VIEWS = ["loading-view", "sign-in-view", "connections-view"];

function start() {
  // First, before anything else can run: the key must leave the address bar at once.
  const keyFromAddress = takeKeyFromAddress();
  if (keyFromAddress) saveKey(keyFromAddress);

  detectHost().then((host) => {
    document.documentElement.dataset.host = host;
  });
  listenForSignIn((key) => openWorkspace(key, { fromSignIn: true }));
  byId("sign-out").addEventListener("click", signOut);
  byId("add-source").addEventListener("click", toggleCatalog);
  byId("banner-retry").addEventListener("click", () => retryBanner && retryBanner());

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
  try {
    const [workspace, connections, catalog] = await Promise.all([
      getJson("/api/v1/workspace", key),
      getJson("/api/v1/connections?per_page=100", key),
      providerCatalog(key),
    ]);
    saveKey(key);
    showConnectionsPage(workspace, connections, catalog);
    showView("connections-view");
    byId("workspace-name").focus();
    announce(`${workspace.name}: ${connections.total} ${connections.total === 1 ? "connection" : "connections"}.`);
  } catch (error) {
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

// The provider catalog, or null where this service has none for us (404 not built, 403 not allowed):
// then there is nothing to add, and the pane says so instead of offering a button that cannot work.
async function providerCatalog(key) {
  try {
    return (await getJson("/api/v1/providers", key)).items;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 403)) return null;
    throw error;
  }
}

function signOut() {
  forgetKey();
  showSignIn();
  announce("Signed out.");
}

function showSignIn(message = "") {
  prepareSignIn(message);
  showView("sign-in-view");
  focusSignIn();
}

function showView(id) {
  for (const view of VIEWS) byId(view).hidden = view !== id;
  byId("footer").hidden = id !== "connections-view";
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

function announce(message) {
  byId("announcer").textContent = message;
}

start();
