// The sign-in step: one field, the workspace key, and one primary button.

import { byId } from "./dom.js";

// `onKey(key)` is called with the typed key; the caller shows the next screen or calls showSignIn
// again with a message.
export function listenForSignIn(onKey) {
  byId("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = byId("workspace-key").value.trim();
    if (!key) {
      showSignInError("Enter your workspace key.");
      return;
    }
    setBusy(true);
    Promise.resolve(onKey(key)).finally(() => setBusy(false));
  });
}

export function prepareSignIn(message = "") {
  const input = byId("workspace-key");
  input.value = "";
  if (message) {
    showSignInError(message);
  } else {
    byId("sign-in-error").hidden = true;
    byId("sign-in-error").textContent = "";
    input.removeAttribute("aria-invalid");
  }
}

export function focusSignIn() {
  byId("workspace-key").focus();
}

function showSignInError(message) {
  const error = byId("sign-in-error");
  error.textContent = message;
  error.hidden = false;
  byId("workspace-key").setAttribute("aria-invalid", "true");
  byId("workspace-key").focus();
}

function setBusy(busy) {
  const button = byId("sign-in-submit");
  button.disabled = busy;
  button.textContent = busy ? "Checking…" : "Continue";
}
