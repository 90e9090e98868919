// What a user can do to a connection, as buttons and a "More actions" menu, the same in the list and in
// the details. The service says which actions the caller may take now (`connection.actions`, by status
// and role); the pane shows exactly those, and the service refuses the rest anyway.

import { ApiError, NetworkError, sendJson } from "./api.js";
import { announce, byId, el, icon } from "./dom.js";
import { navigate } from "./router.js";
import { isRefreshing, loadConnections } from "./store.js";
import { count, problemOf } from "./words.js";

export function actionBar(connection) {
  const can = new Set(connection.actions);
  const problem = problemOf(connection);
  const bar = el("div", { class: "row-actions" });
  if (can.has("refresh")) {
    const busy = isRefreshing(connection);
    bar.append(el("button", {
      class: "button small", type: "button", "data-focus": "refresh", "aria-label": `Refresh ${connection.name}`,
      disabled: busy, onclick: () => refresh(connection),
    }, icon("play"), busy ? "Refreshing" : "Refresh"));
  }
  const reconnectFirst = can.has("reconnect") && problem && problem.fix === "reconnect";
  if (reconnectFirst) {
    bar.append(el("button", { class: "button small primary", type: "button", "data-focus": "reconnect",
      onclick: () => navigate(`/connections/${connection.id}/reconnect`) },
    connection.status === "setup" ? "Finish sign-in" : "Reconnect"));
  }
  if (can.has("select_entities") && connection.selected_entities.length === 0) {
    bar.append(el("button", { class: "button small primary", type: "button", "data-focus": "choose",
      onclick: () => navigate(`/connections/${connection.id}/companies`) }, "Choose companies"));
  }
  const items = [
    can.has("sync_entities") && { label: "Sync accounts", run: () => syncAccounts(connection) },
    can.has("select_entities") && { label: "Edit companies",
      run: () => navigate(`/connections/${connection.id}/companies`) },
    can.has("reconnect") && !reconnectFirst && { label: "Reconnect",
      run: () => navigate(`/connections/${connection.id}/reconnect`) },
    can.has("disconnect") && { label: "Disconnect…", danger: true, run: () => disconnect(connection) },
    can.has("delete") && { label: "Delete…", danger: true, run: () => remove(connection) },
  ].filter(Boolean);
  if (items.length) bar.append(menu(`More actions for ${connection.name}`, items));
  return bar;
}

// Puts a message above the view: what happened, in plain words. `tone` is success, info or error.
export function notify(message, tone = "info") {
  const notice = byId("notice");
  notice.replaceChildren(message ? el("div", { class: `message ${tone}`, role: tone === "error" ? "alert" : "status" },
    el("p", {}, message),
    el("button", { class: "button small", type: "button", onclick: () => notify("") }, "Dismiss")) : "");
}

async function act(work) {
  try {
    return await work();
  } catch (error) {
    if (error instanceof ApiError || error instanceof NetworkError) {
      notify(error.message, "error");
      return null;
    }
    throw error;
  }
}

export function refresh(connection) {
  return act(async () => {
    await sendJson("POST", `/api/v1/connections/${connection.id}/refresh`, {});
    announce(`Refreshing ${connection.name}.`);
    await loadConnections();
  });
}

function syncAccounts(connection) {
  return act(async () => {
    const answer = await sendJson("POST", `/api/v1/connections/${connection.id}/entities/sync`);
    const available = answer.items.filter((entity) => entity.available).length;
    notify(`${connection.name}: the provider lists ${count(available, "company", "companies")}.`, "success");
    await loadConnections();
  });
}

async function disconnect(connection) {
  const yes = await confirm(`Disconnect ${connection.name}?`,
    `Ledgerpane stops refreshing ${connection.name} and signs out of it at the provider; your data stays. `
    + "An admin can reconnect it later, with the provider's consent again.",
    "Disconnect");
  if (!yes) return;
  await act(async () => {
    await sendJson("POST", `/api/v1/connections/${connection.id}/disconnect`);
    notify(`${connection.name} is disconnected: it stops refreshing; your data stays.`, "success");
    await loadConnections();
  });
}

async function remove(connection) {
  const yes = await confirm(`Delete ${connection.name}?`,
    `Ledgerpane removes the connection and its sign-in at the provider; your loaded data stays.`, "Delete");
  if (!yes) return;
  await act(async () => {
    const answer = await sendJson("DELETE", `/api/v1/connections/${connection.id}`);
    navigate("/connections");
    notify(`${connection.name} is deleted; your loaded data stays. ${answer.detail}`, "success");
    await loadConnections();
  });
}

// A confirmation that says exactly what happens; resolves true for the named action, false for Cancel/Escape.
export function confirm(title, text, action) {
  const dialog = byId("confirm");
  const before = document.activeElement;
  byId("confirm-title").textContent = title;
  byId("confirm-text").textContent = text;
  byId("confirm-yes").textContent = action;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => {
      if (before && before.isConnected) before.focus();
      resolve(dialog.returnValue === "yes");
    }, { once: true });
  });
}

// A menu button: arrow keys move, Escape closes and returns to the button, a choice closes it.
function menu(label, items) {
  const wrap = el("div", { class: "menu-wrap" });
  const button = el("button", { class: "button small", type: "button", "aria-haspopup": "menu",
    "aria-expanded": "false", "aria-label": label, "data-focus": "menu" }, icon("more"), "More");
  const list = el("ul", { class: "menu", role: "menu", "aria-label": label, hidden: true });
  const entries = items.map((item) => el("button", {
    type: "button", role: "menuitem", tabindex: "-1", class: item.danger ? "danger-item" : null,
    onclick: () => {
      close(true);
      item.run();
    },
  }, item.label));
  list.append(...entries.map((entry) => el("li", { role: "none" }, entry)));
  const open = () => {
    list.hidden = false;
    button.setAttribute("aria-expanded", "true");
    entries[0].focus();
  };
  function close(returnFocus) {
    list.hidden = true;
    button.setAttribute("aria-expanded", "false");
    if (returnFocus) button.focus();
  }
  button.addEventListener("click", () => (list.hidden ? open() : close(false)));
  list.addEventListener("keydown", (event) => {
    const index = entries.indexOf(document.activeElement);
    const moves = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: entries.length - 1 };
    if (event.key in moves) {
      event.preventDefault();
      entries[(moves[event.key] + entries.length) % entries.length].focus();
    } else if (event.key === "Escape") {
      event.preventDefault();
      close(true);
    } else if (event.key === "Tab") {
      close(false);
    }
  });
  wrap.addEventListener("focusout", (event) => {
    if (!wrap.contains(event.relatedTarget)) close(false);
  });
  wrap.append(button, list);
  return wrap;
}
