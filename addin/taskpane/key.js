// The workspace key: where it comes from and where it is kept.
//
// `ledgerpane serve` prints the task pane address with the key in the fragment (#key=...). A fragment
// is never sent to the server, so the key stays out of access logs; we take it from there once, keep it
// in localStorage so that the pane opens signed in next time, and remove it from the address bar so
// that it is not bookmarked, shared in a screenshot or left in the history.

const STORAGE_NAME = "ledgerpane.workspaceKey";

// Storage can be refused (private windows, strict tracking prevention in some Office web views); the
// pane then still works for this session, it just asks again next time.
let keptInMemory = null;

export function takeKeyFromAddress() {
  const params = new URLSearchParams(window.location.hash.slice(1));
  const key = (params.get("key") || "").trim();
  if (!params.has("key")) return null;
  params.delete("key");
  const rest = params.toString();
  const address = window.location.pathname + window.location.search + (rest ? `#${rest}` : "");
  // Older Office web views remove history.replaceState; assigning the hash is the fallback there.
  if (typeof window.history.replaceState === "function") {
    window.history.replaceState(window.history.state, "", address);
  } else {
    window.location.hash = rest;
  }
  return key || null;
}

export function storedKey() {
  try {
    return window.localStorage.getItem(STORAGE_NAME) || keptInMemory;
  } catch {
    return keptInMemory;
  }
}

export function saveKey(key) {
  keptInMemory = key;
  try {
    window.localStorage.setItem(STORAGE_NAME, key);
  } catch {
    // kept in memory only, see above
  }
}

export function forgetKey() {
  keptInMemory = null;
  try {
    window.localStorage.removeItem(STORAGE_NAME);
  } catch {
    // nothing was stored
  }
}
