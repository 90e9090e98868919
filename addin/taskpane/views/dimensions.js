// The workspace's own dimensions (at most four): admins add, rename, order and delete them and add members;
// members of the workspace read them. Deleting says first what happens to the lines already loaded.

import { confirm, notify } from "../actions.js";
import { ApiError, getJson, NetworkError, sendJson } from "../api.js";
import { el } from "../dom.js";
import { getState } from "../store.js";
import { count } from "../words.js";
import { MAX_DIMENSIONS } from "./mapping.js";

export function dimensionsView(container) {
  const admin = getState().workspace.role === "admin";
  const heading = el("h2", { class: "subtitle", tabindex: "-1" }, "Dimensions");
  const body = el("div", {}, el("p", { class: "secondary" }, "Loading…"));
  container.append(el("div", { class: "section-head" }, heading), body);

  // `focusKey`: where focus goes back to after drawing again (the heading when that control is gone).
  const load = async (focusKey = undefined) => {
    const { items } = await getJson("/api/v1/dimensions");
    body.replaceChildren(...[
      el("p", { class: "secondary" }, `Up to ${MAX_DIMENSIONS} dimensions (Region, Department, Project…). Every `
        + "line lands on one member of each; lines nothing maps land on its Unmapped member."),
      items.length
        ? el("ol", { class: "plain-list dimensions", "aria-label": "Workspace dimensions" },
          ...items.map((dimension, at) => dimensionItem(dimension, at, items.length)))
        : el("p", {}, "No dimension yet."),
      admin && items.length < MAX_DIMENSIONS ? addForm() : null,
      admin ? null : el("p", { class: "secondary" }, "Only a workspace admin can change dimensions.")].filter(Boolean));
    const focused = focusKey && body.querySelector(`[data-focus="${focusKey}"]`);
    if (focused) focused.focus();
    else if (focusKey !== undefined) heading.focus();
  };

  // Runs a change, says what happened, and draws the list again (focus back where it was).
  const act = async (work, done, focusKey) => {
    try {
      const answer = await work();
      await load(focusKey);
      notify(done(answer), "success");
      return true;
    } catch (error) {
      if (!(error instanceof ApiError || error instanceof NetworkError)) throw error;
      notify(error.message, "error");
      return false;
    }
  };

  const dimensionItem = (dimension, at, total) => {
    const members = dimension.members.filter((member) => !member.unmapped);
    const titleId = `dimension-${dimension.id}`;
    const item = el("li", { class: "card dimension", "aria-labelledby": titleId },
      el("h3", { id: titleId }, dimension.name),
      el("p", { class: "secondary" }, members.length
        ? `${count(members.length, "member")}: ${members.slice(0, 8).map((member) => member.name).join(", ")}`
          + `${members.length > 8 ? "…" : ""}, and Unmapped.` : "Only its Unmapped member so far."));
    if (!admin) return item;
    const rename = el("form", { class: "inline-form", "aria-label": `Rename ${dimension.name}` },
      el("label", { class: "field" }, el("span", {}, "Name"),
        el("input", { class: "input", name: "name", value: dimension.name, required: true, maxlength: "100",
          "data-focus": `name-${dimension.id}` })),
      el("button", { class: "button small", type: "submit" }, "Rename"));
    rename.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = rename.elements.name.value.trim();
      if (!name || name === dimension.name) return;
      act(() => sendJson("PATCH", `/api/v1/dimensions/${dimension.id}`, { name }),
        () => `${dimension.name} is now called ${name}.`, `name-${dimension.id}`);
    });
    const addMember = el("form", { class: "inline-form", "aria-label": `Add a member to ${dimension.name}` },
      el("label", { class: "field" }, el("span", {}, "New member"),
        el("input", { class: "input", name: "member", required: true, maxlength: "200",
          "data-focus": `member-${dimension.id}` })),
      el("button", { class: "button small", type: "submit" }, "Add member"));
    addMember.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = addMember.elements.member.value.trim();
      if (!name) return;
      act(() => sendJson("POST", `/api/v1/dimensions/${dimension.id}/members`, { name }),
        () => `${name} added to ${dimension.name}.`, `member-${dimension.id}`);
    });
    const move = (place, label, key) => el("button", { class: "button small", type: "button", "data-focus": key,
      "aria-label": `${label}: ${dimension.name}`, onclick: () => act(
        () => sendJson("PATCH", `/api/v1/dimensions/${dimension.id}`, { order: place }),
        () => `${dimension.name} moved to place ${place}.`, key) }, label);
    item.append(rename, addMember, el("div", { class: "row-actions" },
      at > 0 ? move(at, "Move up", `move-${dimension.id}`) : null,
      at < total - 1 ? move(at + 2, "Move down", `move-${dimension.id}`) : null,
      el("button", { class: "button small", type: "button", "aria-label": `Delete ${dimension.name}…`,
        onclick: () => remove(dimension) }, "Delete…")));
    return item;
  };

  const remove = async (dimension) => {
    const yes = await confirm(`Delete ${dimension.name}?`,
      `Its members and every connection's mapping onto it go. Lines already loaded keep their amounts, accounts and `
      + `periods but lose their ${dimension.name}: reports by ${dimension.name} no longer show them. The provider's `
      + "values stay on each line, so mapping them again later places them again.", "Delete");
    if (!yes) return;
    await act(() => sendJson("DELETE", `/api/v1/dimensions/${dimension.id}?lines=clear`),
      (answer) => `${dimension.name} is deleted; ${count(answer.lines, "loaded line")} no longer carry it.`, null);
  };

  const addForm = () => {
    const form = el("form", { class: "card inline-form", "aria-label": "Add a dimension" },
      el("label", { class: "field" }, el("span", {}, "New dimension"),
        el("input", { class: "input", name: "name", required: true, maxlength: "100", "data-focus": "new-dimension" })),
      el("button", { class: "button small primary", type: "submit" }, "Add dimension"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = form.elements.name.value.trim();
      if (!name) return;
      act(() => sendJson("POST", "/api/v1/dimensions", { name }), () => `${name} added, with its Unmapped member.`,
        "new-dimension");
    });
    return form;
  };

  load().then(() => heading.focus())
    .catch((error) => body.replaceChildren(el("p", { role: "alert" }, error.message)));
}
