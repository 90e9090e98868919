// The Workbook screen's filters, as the workbook API takes them: a month range, entities, accounts (by the code the
// sheets show), each dimension's members, and Actuals line by line or summarised. Nothing ticked in a group means
// all of it, as the API reads a filter left out.

import { el } from "../dom.js";

let groupCount = 0;

// Checkboxes behind a button that says what is chosen ("Accounts: all", "Accounts: 2 of 40"), so a long chart
// of accounts takes one line of a 350 px pane until it is opened.
function choiceGroup(title, options, onChange) {
  const id = `filter-choices-${++groupCount}`;
  const boxes = options.map((option) => el("input", { type: "checkbox", value: option.value }));
  const toggle = el("button", { class: "button small filter-toggle", type: "button", "aria-expanded": "false",
    "aria-controls": id });
  const panel = el("fieldset", { class: "filter-choices", id, hidden: true },
    el("legend", { class: "visually-hidden" }, title),
    options.map((option, index) => el("label", { class: "choice" }, boxes[index], el("span", {}, option.label))));
  const chosen = () => boxes.filter((box) => box.checked).map((box) => box.value);
  const say = () => {
    const count = chosen().length;
    toggle.textContent = `${title}: ${count ? `${count} of ${options.length}` : "all"}`;
  };
  toggle.addEventListener("click", () => {
    const opening = panel.hidden;
    panel.hidden = !opening;
    toggle.setAttribute("aria-expanded", String(opening));
  });
  panel.addEventListener("change", () => {
    say();
    onChange();
  });
  say();
  return { node: el("div", { class: "filter-group" }, toggle, panel), chosen };
}

export function workbookFilters(onChange) {
  // Where a web view has no month picker (Safari, so Excel on a Mac) these are text fields taking 2026-01.
  const from = el("input", { class: "input", type: "month", name: "from", placeholder: "YYYY-MM" });
  const to = el("input", { class: "input", type: "month", name: "to", placeholder: "YYYY-MM" });
  const radio = (value, label, checked) => el("label", { class: "check" },
    el("input", { type: "radio", name: "actuals-rows", value, checked }), el("span", {}, label));
  const rows = el("fieldset", { class: "filter-rows" }, el("legend", {}, "Actuals rows"),
    radio("lines", "One per ledger line", true), radio("summary", "Summarised by period, account and dimensions"));
  const groups = el("div", { class: "filter-groups" });
  const node = el("fieldset", { class: "workbook-filters" },
    el("legend", {}, "What to load"),
    el("label", { class: "field" }, el("span", {}, "From month"), from),
    el("label", { class: "field" }, el("span", {}, "To month"), to),
    groups, rows);
  node.addEventListener("change", (event) => {
    if (!event.target.closest(".filter-choices")) onChange(); // a group says so itself, once its label is right
  });

  let entities = { chosen: () => [] };
  let accounts = { chosen: () => [] };
  let dimensions = [];

  return {
    node,
    // The choices the workspace offers (GET /api/v1/workbook/filters): a group each, none for an empty list.
    fill(choices) {
      const sources = new Set(choices.entities.map((entity) => entity.connection));
      entities = choiceGroup("Entities", choices.entities.map((entity) => ({ value: entity.id,
        label: sources.size > 1 ? `${entity.name} (${entity.connection})` : entity.name })), onChange);
      accounts = choiceGroup("Accounts", choices.accounts.map((account) => ({ value: account.code,
        label: `${account.code} ${account.name}` })), onChange);
      dimensions = choices.dimensions.filter((dimension) => dimension.members.length).map((dimension) => choiceGroup(
        dimension.name, dimension.members.map((member) => ({ value: member.id, label: member.name })), onChange));
      groups.replaceChildren(...[choices.entities.length ? entities : null, choices.accounts.length ? accounts : null,
        ...dimensions].filter(Boolean).map((group) => group.node));
    },
    // The chosen filters, added to a request's query.
    addTo(params) {
      if (from.value) params.set("from", from.value);
      if (to.value) params.set("to", to.value);
      for (const id of entities.chosen()) params.append("entity", id);
      for (const code of accounts.chosen()) params.append("account", code);
      for (const group of dimensions) for (const id of group.chosen()) params.append("member", id);
      if (rows.querySelector("input:checked").value === "summary") params.set("summary", "true");
    },
    // No changes while a load runs: each of its pages asks with the filters it started with.
    setDisabled(disabled) {
      node.disabled = disabled;
    },
  };
}
