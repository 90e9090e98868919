// A connection's mapping: the provider's dimensions beside the workspace's, a member row per provider member,
// the rule for members no row maps, and the preview of where the loaded lines would land.
//
// The service keeps a provider dimension per company (three organisations each with "Region" are three
// provider dimensions). A user means one "Region", so the pane groups provider dimensions by name, and their
// members by name, and sends one plan per company's dimension when saving: the same choice for each.

import { notify } from "../actions.js";
import { ApiError, getJson, NetworkError, sendJson } from "../api.js";
import { announce, el, icon } from "../dom.js";
import { navigate } from "../router.js";
import { ACTIVE_RUN, getState, loadConnections } from "../store.js";
import { count, progressText, when } from "../words.js";

export const MAX_DIMENSIONS = 4;
const NEW_MEMBER_RULES = {
  unmapped: "Leave on Unmapped",
  create: "Create members of their names",
  member: "Map to a chosen member",
};
const PREVIEW_PERIODS = 3;
const PREVIEW_DELAY_MS = 400;
const RUN_POLL_MS = 1000;

// --- the model: provider dimensions grouped by name, and the choices made for each group

function groupsOf(providerDimensions) {
  const groups = new Map();
  for (const dimension of providerDimensions) {
    const key = dimension.name.toLowerCase();
    if (!groups.has(key)) groups.set(key, { key, name: dimension.name, parts: [], members: new Map() });
    const group = groups.get(key);
    group.parts.push(dimension);
    for (const member of dimension.members) {
      const name = member.name.toLowerCase();
      if (!group.members.has(name)) group.members.set(name, { key: name, name: member.name, ids: [], archived: true });
      const entry = group.members.get(name);
      entry.ids.push(member.id);
      entry.archived = entry.archived && member.status === "archived";
    }
  }
  return [...groups.values()].map((group) => ({
    ...group,
    companies: group.parts.map((part) => part.entity),
    members: [...group.members.values()].sort((a, b) => a.name.localeCompare(b.name)),
  }));
}

// The choice for each group, from a mapping (the saved one or the proposal): the first company's plan speaks for
// the group. A member row is "" (no row: the rule places it), "create" or "m:<workspace member id>".
function choicesFrom(groups, plans) {
  const byProvider = new Map(plans.map((plan) => [plan.provider_dimension_id, plan]));
  return new Map(groups.map((group) => {
    const plan = group.parts.map((part) => byProvider.get(part.id)).find(Boolean);
    const rows = new Map(group.members.map((member) => [member.key, ""]));
    const memberOf = new Map(group.members.flatMap((member) => member.ids.map((id) => [id, member.key])));
    for (const part of group.parts) {
      for (const row of byProvider.get(part.id)?.members || []) {
        const key = memberOf.get(row.provider_member_id);
        if (key && rows.get(key) === "") rows.set(key, `m:${row.member_id}`);
      }
    }
    return [group.key, {
      dimensionId: plan ? plan.dimension_id : null,
      rule: plan ? plan.new_members : "unmapped",
      ruleMember: plan ? plan.new_members_member_id : null,
      rows,
    }];
  }));
}

// Exact name or code matches, as the service proposes them, for a group newly pointed at a dimension.
function matchedRows(group, dimension) {
  const matches = new Map();
  for (const member of dimension ? dimension.members : []) {
    if (member.unmapped) continue;
    if (!matches.has(member.name.toLowerCase())) matches.set(member.name.toLowerCase(), member.id);
    if (member.code && !matches.has(member.code.toLowerCase())) matches.set(member.code.toLowerCase(), member.id);
  }
  return new Map(group.members.map((member) => [member.key,
    matches.has(member.key) ? `m:${matches.get(member.key)}` : ""]));
}

function plansOf(groups, choices) {
  const plans = [];
  for (const group of groups) {
    const choice = choices.get(group.key);
    if (!choice.dimensionId) continue;
    for (const part of group.parts) {
      const members = [];
      for (const member of part.members) {
        const value = choice.rows.get(member.name.toLowerCase()) || "";
        if (value === "create") members.push({ provider_member_id: member.id, create: true });
        else if (value.startsWith("m:")) members.push({ provider_member_id: member.id, member_id: Number(value.slice(2)) });
      }
      plans.push({ provider_dimension_id: part.id, dimension_id: choice.dimensionId, new_members: choice.rule,
        new_members_member_id: choice.rule === "member" ? choice.ruleMember : null, members });
    }
  }
  return plans;
}

function realMembers(dimension) {
  return dimension ? dimension.members.filter((member) => !member.unmapped) : [];
}

// --- the editor

// Draws the mapping into `into`; `changed()` hears of every edit. Returns {plans(), problem()} (problem: a
// sentence when the choices cannot be saved as they are, else ""). Read-only when not `editable`.
export function mappingEditor(into, data, { editable, changed = () => {}, onCreateDimension = null }) {
  const groups = groupsOf(data.provider_dimensions);
  const dimensions = data.workspace_dimensions;
  const choices = choicesFrom(groups, data.proposal);
  const dimensionById = (id) => dimensions.find((dimension) => dimension.id === id) || null;

  const problem = () => {
    const taken = new Map();
    for (const group of groups) {
      const choice = choices.get(group.key);
      if (!choice.dimensionId) continue;
      const other = taken.get(choice.dimensionId);
      if (other && group.parts.some((part) => other.parts.some((mine) => mine.entity_id === part.entity_id))) {
        return `${other.name} and ${group.name} both land on ${dimensionById(choice.dimensionId).name}: a line `
          + "would need two members there. Choose another dimension for one of them.";
      }
      taken.set(choice.dimensionId, group);
      if (choice.rule === "member" && !choice.ruleMember) return `Choose the member for ${group.name}'s other members.`;
    }
    return "";
  };

  const draw = () => {
    into.replaceChildren(...groups.map((group) => (editable ? groupEditor(group) : groupText(group))));
  };

  const groupEditor = (group) => {
    const choice = choices.get(group.key);
    const target = dimensionById(choice.dimensionId);
    const id = `map-${group.key.replace(/\W+/g, "-")}`;
    const select = el("select", { class: "input", "data-focus": `${id}-dimension` },
      el("option", { value: "" }, "Not mapped"),
      ...dimensions.map((dimension) => el("option", { value: dimension.id, selected: dimension.id === choice.dimensionId },
        dimension.name)));
    select.addEventListener("change", () => {
      choice.dimensionId = select.value ? Number(select.value) : null;
      choice.rows = matchedRows(group, dimensionById(choice.dimensionId));
      choice.rule = "unmapped";
      choice.ruleMember = null;
      redraw(`${id}-dimension`);
    });
    const sameName = dimensions.some((dimension) => dimension.name.toLowerCase() === group.key);
    const create = onCreateDimension && !sameName && dimensions.length < MAX_DIMENSIONS
      ? el("button", { class: "button small", type: "button", "data-focus": `${id}-create`, onclick: async () => {
        const made = await onCreateDimension(group.name);
        if (!made) return;
        dimensions.push(made);
        choice.dimensionId = made.id;
        choice.rows = new Map(group.members.map((member) => [member.key, "create"]));
        choice.rule = "create";
        redraw(`${id}-dimension`);
        announce(`Workspace dimension ${made.name} created.`);
      } }, `Create workspace dimension ${group.name}`)
      : null;
    return el("section", { class: "card map-group", "aria-labelledby": id },
      el("h4", { id, class: "map-title" }, group.name),
      el("p", { class: "secondary" }, `In ${group.companies.join(", ")}`),
      el("label", { class: "field" }, el("span", {}, "Lands on workspace dimension"), select),
      create,
      target ? memberRows(group, choice, target, id) : null);
  };

  const memberRows = (group, choice, target, id) => {
    const options = (value) => [
      el("option", { value: "", selected: value === "" }, "Rule below"),
      el("option", { value: "create", selected: value === "create" }, "Create new"),
      ...realMembers(target).map((member) => el("option", { value: `m:${member.id}`, selected: value === `m:${member.id}` },
        member.name)),
    ];
    const rows = group.members.map((member, at) => {
      const select = el("select", { class: "input", id: `${id}-m-${at}`, "data-focus": `${id}-m-${at}` },
        ...options(choice.rows.get(member.key)));
      select.addEventListener("change", () => {
        choice.rows.set(member.key, select.value);
        changed();
      });
      return el("div", { class: "map-row" }, el("label", { for: `${id}-m-${at}` }, member.name), select,
        member.archived ? el("span", { class: "secondary map-note" }, "archived at the provider") : null);
    });
    const rule = el("select", { class: "input", "data-focus": `${id}-rule` }, ...Object.entries(NEW_MEMBER_RULES).map(
      ([key, label]) => el("option", { value: key, selected: key === choice.rule,
        disabled: key === "member" && realMembers(target).length === 0 }, label)));
    rule.addEventListener("change", () => {
      choice.rule = rule.value;
      choice.ruleMember = rule.value === "member" ? (choice.ruleMember || realMembers(target)[0].id) : null;
      redraw(`${id}-rule`);
    });
    const ruleMember = choice.rule === "member"
      ? el("label", { class: "field" }, el("span", {}, "Chosen member"), (() => {
        const pick = el("select", { class: "input", "data-focus": `${id}-rule-member` }, ...realMembers(target).map(
          (member) => el("option", { value: member.id, selected: member.id === choice.ruleMember }, member.name)));
        pick.addEventListener("change", () => {
          choice.ruleMember = Number(pick.value);
          changed();
        });
        return pick;
      })())
      : null;
    return [
      el("fieldset", { class: "choices map-members" }, el("legend", {}, `Members of ${group.name}`), ...rows),
      el("label", { class: "field" }, el("span", {}, "Members with no row, now and appearing later"), rule),
      ruleMember,
    ];
  };

  const groupText = (group) => {
    const choice = choices.get(group.key);
    const target = dimensionById(choice.dimensionId);
    const memberName = (value) => (value === "create" ? "a member of its name"
      : value ? realMembers(target).find((member) => `m:${member.id}` === value)?.name || "a member" : null);
    const other = { unmapped: "Unmapped", create: "a member of its name",
      member: realMembers(target).find((member) => member.id === choice.ruleMember)?.name || "a chosen member",
    }[choice.rule];
    return el("section", { class: "card map-group", "aria-label": group.name },
      el("h4", { class: "map-title" }, group.name),
      el("p", {}, target ? `Lands on ${target.name}.` : "Not mapped: its values wait on each line."),
      target ? el("ul", { class: "plain-list map-list" }, ...group.members.map((member) => el("li", {},
        `${member.name}: ${memberName(choice.rows.get(member.key)) || `no row (${other})`}`))) : null,
      target ? el("p", { class: "secondary" }, `Members with no row, now and later: ${other}.`) : null);
  };

  function redraw(focusKey) {
    draw();
    into.querySelector(`[data-focus="${focusKey}"]`)?.focus();
    changed();
  }

  draw();
  return { plans: () => plansOf(groups, choices), problem, groups };
}

// --- the accounts: the rule for accounts no row or rule maps, code ranges and prefixes, and rows per account

const NEW_ACCOUNT_RULES = {
  mirror: "Own account (same code and name)",
  unmapped: "The Unmapped account",
};

function accountLabel(account) {
  return `${account.code} ${account.name}`.trim();
}

// Draws the account mapping into `into`. A target is typed or picked (a workspace account by its code and
// name); a name the chart does not have yet becomes a new workspace account when saved. Returns {plan(),
// problem()}.
export function accountsEditor(into, data, { editable, changed = () => {} }) {
  const saved = data.account_mapping || { new_accounts: "mirror", rows: [], rules: [] };
  const chart = (data.workspace_accounts || []).filter((account) => !account.unmapped);
  const chartById = new Map(chart.map((account) => [account.id, account]));
  const labelOf = (id) => (chartById.has(id) ? accountLabel(chartById.get(id)) : "");
  const state = {
    rule: saved.new_accounts,
    rules: saved.rules.map((rule) => ({ ...rule, target: labelOf(rule.workspace_account_id) })),
    rows: saved.rows.map((row) => ({ account: row.provider_account_id, target: labelOf(row.workspace_account_id) })),
  };
  const accounts = data.accounts || [];
  const listId = "workspace-accounts-list";

  const target = (text) => {
    const wanted = text.trim().toLowerCase();
    const found = chart.find((account) => accountLabel(account).toLowerCase() === wanted);
    if (found) return { workspace_account_id: found.id };
    const [first, ...rest] = text.trim().split(/\s+/);
    return /^\d+$/.test(first) && rest.length ? { new_account: { code: first, name: rest.join(" ") } }
      : { new_account: { code: "", name: text.trim() } };
  };
  const rules = saved.new_accounts === "account" // a chosen account, set through the API: kept as it is
    ? { ...NEW_ACCOUNT_RULES, account: labelOf(saved.new_accounts_account_id) || "A chosen account" }
    : NEW_ACCOUNT_RULES;
  const plan = () => ({
    new_accounts: state.rule,
    ...(state.rule === "account" ? { new_accounts_account_id: saved.new_accounts_account_id } : {}),
    rules: state.rules.map((rule) => ({ kind: rule.kind, ...(rule.kind === "range"
      ? { code_from: rule.code_from.trim(), code_to: rule.code_to.trim() } : { prefix: rule.prefix.trim() }),
    ...target(rule.target) })),
    rows: state.rows.map((row) => ({ provider_account_id: row.account, ...target(row.target) })),
  });
  const problem = () => {
    for (const rule of state.rules) {
      if (rule.kind === "range" && (!rule.code_from.trim() || !rule.code_to.trim())) {
        return "Give the first and last code of each range.";
      }
      if (rule.kind === "prefix" && !rule.prefix.trim()) return "Give the code prefix of each prefix rule.";
      if (!rule.target.trim()) return "Choose the workspace account each rule lands on.";
    }
    if (state.rows.some((row) => !row.target.trim())) return "Choose the workspace account each account row lands on.";
    return "";
  };

  const input = (label, value, focus, set) => {
    const box = el("input", { class: "input", type: "text", value, "aria-label": label, "data-focus": focus,
      list: listId, autocomplete: "off" });
    box.addEventListener("input", () => {
      set(box.value);
      changed();
    });
    return box;
  };
  const remove = (label, focus, action) => el("button", { class: "button small", type: "button",
    "aria-label": label, "data-focus": focus, onclick: () => {
      action();
      redraw("accounts-add-rule");
    } }, "Remove");

  const ruleLine = (rule, at) => {
    const n = at + 1;
    const kind = el("select", { class: "input", "aria-label": `Rule ${n}: kind`, "data-focus": `rule-${at}-kind` },
      el("option", { value: "range", selected: rule.kind === "range" }, "Code range"),
      el("option", { value: "prefix", selected: rule.kind === "prefix" }, "Code prefix"));
    kind.addEventListener("change", () => {
      rule.kind = kind.value;
      redraw(`rule-${at}-kind`);
    });
    const codes = rule.kind === "range"
      ? [input(`Rule ${n}: first code`, rule.code_from, `rule-${at}-from`, (v) => { rule.code_from = v; }),
        input(`Rule ${n}: last code`, rule.code_to, `rule-${at}-to`, (v) => { rule.code_to = v; })]
      : [input(`Rule ${n}: codes starting with`, rule.prefix, `rule-${at}-prefix`, (v) => { rule.prefix = v; })];
    codes.forEach((box) => box.removeAttribute("list"));
    return el("li", { class: "account-rule" }, kind, ...codes,
      input(`Rule ${n}: lands on workspace account`, rule.target, `rule-${at}-target`, (v) => { rule.target = v; }),
      remove(`Remove rule ${n}`, `rule-${at}-remove`, () => state.rules.splice(at, 1)));
  };
  const rowLine = (row, at) => {
    const n = at + 1;
    const pick = el("select", { class: "input", "aria-label": `Account row ${n}: provider account`,
      "data-focus": `row-${at}-account` }, ...accounts.map((account) => el("option", { value: account.id,
      selected: account.id === row.account }, `${accountLabel(account)}${account.entity ? ` (${account.entity})` : ""}`)));
    pick.addEventListener("change", () => {
      row.account = Number(pick.value);
      changed();
    });
    return el("li", { class: "account-rule" }, pick,
      input(`Account row ${n}: lands on workspace account`, row.target, `row-${at}-target`, (v) => { row.target = v; }),
      remove(`Remove account row ${n}`, `row-${at}-remove`, () => state.rows.splice(at, 1)));
  };

  const draw = () => {
    if (!editable) {
      const where = new Map(accounts.map((account) => [account.id, account]));
      into.replaceChildren(el("section", { class: "card map-group", "aria-label": "Accounts" },
        el("h4", { class: "map-title" }, "Accounts"),
        el("p", {}, `Accounts no row or rule maps land on: ${rules[state.rule]}.`),
        el("ul", { class: "plain-list map-list" },
          ...state.rules.map((rule) => el("li", {}, `${rule.kind === "range" ? `Codes ${rule.code_from}–${rule.code_to}`
            : `Codes starting ${rule.prefix}`}: ${rule.target}`)),
          ...state.rows.map((row) => el("li", {}, `${where.has(row.account) ? accountLabel(where.get(row.account))
            : "An account"}: ${row.target}`)))));
      return;
    }
    const rule = el("select", { class: "input", "data-focus": "accounts-rule" }, ...Object.entries(rules)
      .map(([key, label]) => el("option", { value: key, selected: key === state.rule }, label)));
    rule.addEventListener("change", () => {
      state.rule = rule.value;
      changed();
    });
    into.replaceChildren(el("section", { class: "card map-group", "aria-labelledby": "map-accounts" },
      el("h4", { id: "map-accounts", class: "map-title" }, "Accounts"),
      el("p", { class: "secondary" }, "An account's own row wins; then the first rule that matches its code."),
      el("datalist", { id: listId }, ...chart.map((account) => el("option", { value: accountLabel(account) }))),
      el("label", { class: "field" }, el("span", {}, "Accounts no row or rule maps land on"), rule),
      el("h5", { class: "map-title" }, "Rules by code"),
      el("ol", { class: "plain-list account-rules" }, ...state.rules.map(ruleLine)),
      el("button", { class: "button small", type: "button", "data-focus": "accounts-add-rule", onclick: () => {
        state.rules.push({ kind: "range", code_from: "", code_to: "", prefix: "", target: "" });
        redraw(`rule-${state.rules.length - 1}-from`);
      } }, "Add a code rule"),
      el("h5", { class: "map-title" }, "Rows per account"),
      el("ol", { class: "plain-list account-rules" }, ...state.rows.map(rowLine)),
      accounts.length ? el("button", { class: "button small", type: "button", "data-focus": "accounts-add-row",
        onclick: () => {
          state.rows.push({ account: accounts[0].id, target: "" });
          redraw(`row-${state.rows.length - 1}-account`);
        } }, "Add an account row") : null));
  };
  function redraw(focusKey) {
    draw();
    into.querySelector(`[data-focus="${focusKey}"]`)?.focus();
    changed();
  }
  draw();
  return { plan, problem };
}

// The accounts part of a preview: how many lines would change account, the Unmapped share, and the workspace
// accounts whose lines change, over the latest periods.
export function accountsPreview(answer) {
  const rows = answer.rows || [];
  const periods = [...new Set(rows.map((row) => row.period))].sort().slice(-PREVIEW_PERIODS);
  let all = 0;
  let allNow = 0;
  let unmapped = 0;
  let unmappedNow = 0;
  const change = new Map();
  for (const row of rows) {
    all += row.lines;
    allNow += row.lines_now;
    if (row.unmapped) {
      unmapped += row.lines;
      unmappedNow += row.lines_now;
    }
    const entry = change.get(row.account) || { row, lines: 0, changed: false };
    entry.lines += row.lines;
    entry.changed ||= row.lines_change !== 0;
    change.set(row.account, entry);
  }
  const share = (part, whole) => (whole ? `${Math.round((part / whole) * 100)}%` : "0%");
  const shown = [...change.values()].filter((entry) => entry.changed || entry.row.unmapped)
    .sort((a, b) => (b.row.unmapped - a.row.unmapped) || b.lines - a.lines).slice(0, 12);
  const cell = (account, period) => {
    const row = rows.find((item) => item.account === account && item.period === period);
    return row ? Number(row.lines).toLocaleString("en-GB") : "–";
  };
  const caption = `Accounts: the latest ${count(periods.length, "period")}`;
  return el("div", { class: "preview-dimension" },
    el("h4", { class: "map-title" }, "Accounts"),
    el("p", {}, answer.lines_moving ? `${count(answer.lines_moving, "loaded line")} would change account.`
      : "No loaded line would change account."),
    el("p", { class: "unmapped-share" }, el("strong", {}, `Unmapped account: ${share(unmapped, all)} of lines`),
      ` (now ${share(unmappedNow, allNow)})`),
    shown.length ? el("div", { class: "table-scroll", role: "region", "aria-label": caption, tabindex: "0" },
      el("table", { class: "preview-table" },
        el("caption", { class: "visually-hidden" }, caption),
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Workspace account"),
          ...periods.map((period) => el("th", { scope: "col" }, monthLabel(period))))),
        el("tbody", {}, ...shown.map(({ row }) => el("tr", { class: row.unmapped ? "is-unmapped" : null },
          el("th", { scope: "row" }, row.account, row.new ? " (new)" : ""),
          ...periods.map((period) => el("td", {}, cell(row.account, period)))))))) : null);
}

// --- the preview

// Per workspace dimension the plan maps onto: a period x member table of lines (or amounts), the Unmapped row
// highlighted, and its share of the lines now and under the proposal.
export function previewTable(answer, plans) {
  const targets = new Set(plans.map((plan) => plan.dimension_id));
  const shown = answer.dimensions.filter((dimension) => targets.has(dimension.id));
  const measure = el("select", { class: "input" },
    el("option", { value: "lines" }, "Lines"), el("option", { value: "amount" }, "Amount (base currency)"));
  const tables = el("div");
  const draw = () => tables.replaceChildren(...shown.map((dimension) => dimensionTable(dimension, measure.value)));
  measure.addEventListener("change", draw);
  draw();
  return el("div", { class: "preview" },
    el("p", {}, answer.lines_moving ? `${count(answer.lines_moving, "loaded line")} would move.`
      : "No loaded line would move."),
    shown.length ? el("label", { class: "field" }, el("span", {}, "Show"), measure) : null,
    tables);
}

function dimensionTable(dimension, measure) {
  const periods = [...new Set(dimension.rows.map((row) => row.period))].sort().slice(-PREVIEW_PERIODS);
  const members = [];
  const totals = new Map();
  let all = 0;
  let allNow = 0;
  let unmapped = 0;
  let unmappedNow = 0;
  for (const row of dimension.rows) {
    const key = row.member;
    if (!totals.has(key)) {
      totals.set(key, 0);
      members.push(row);
    }
    totals.set(key, totals.get(key) + row.lines);
    all += row.lines;
    allNow += row.lines_now;
    if (row.unmapped) {
      unmapped += row.lines;
      unmappedNow += row.lines_now;
    }
  }
  members.sort((a, b) => (b.unmapped - a.unmapped) || a.member.localeCompare(b.member));
  const cell = (member, period) => {
    const row = dimension.rows.find((item) => item.member === member && item.period === period);
    if (!row) return "–";
    return measure === "amount" ? Number(row.amount).toLocaleString("en-GB", { maximumFractionDigits: 0 })
      : Number(row.lines).toLocaleString("en-GB");
  };
  const share = (part, whole) => (whole ? `${Math.round((part / whole) * 100)}%` : "0%");
  const caption = `${dimension.name}: the latest ${count(periods.length, "period")}`;
  return el("div", { class: "preview-dimension" },
    el("h4", { class: "map-title" }, dimension.name),
    el("p", { class: "unmapped-share" }, el("strong", {}, `Unmapped: ${share(unmapped, all)} of lines`),
      ` (now ${share(unmappedNow, allNow)})`),
    el("div", { class: "table-scroll", role: "region", "aria-label": caption, tabindex: "0" },
      el("table", { class: "preview-table" },
        el("caption", { class: "visually-hidden" }, caption),
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Member"),
          ...periods.map((period) => el("th", { scope: "col" }, monthLabel(period))),
          el("th", { scope: "col" }, "% lines"))),
        el("tbody", {}, ...members.map((row) => el("tr", { class: row.unmapped ? "is-unmapped" : null },
          el("th", { scope: "row" }, row.member, row.new ? " (new)" : ""),
          ...periods.map((period) => el("td", {}, cell(row.member, period))),
          el("td", {}, share(totals.get(row.member), all))))))));
}

function monthLabel(period) {
  const [year, month] = period.split("-").map(Number);
  return new Date(Date.UTC(year, month - 1, 1)).toLocaleDateString("en-GB", { month: "short", year: "2-digit",
    timeZone: "UTC" });
}

// A preview region that asks the service again (after a short pause) whenever the plans change.
function livePreview(connectionId, editor, accountsEditor = null) {
  const region = el("section", { class: "card", "aria-labelledby": `preview-${connectionId}`, "aria-live": "polite" },
    el("h3", { id: `preview-${connectionId}` }, "Preview"));
  const body = el("div", {}, el("p", { class: "secondary" }, "Working out where the lines land…"));
  region.append(body);
  let timer = null;
  let asked = 0;
  const ask = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const plans = editor.plans();
      const problem = editor.problem() || accountsEditor?.problem();
      if (problem) {
        body.replaceChildren(el("p", { class: "field-error" }, problem));
        return;
      }
      if (!plans.length && !accountsEditor) {
        body.replaceChildren(el("p", { class: "secondary" }, "Nothing is mapped: every line stays on Unmapped."));
        return;
      }
      const mine = ++asked;
      try {
        const answer = await sendJson("POST", `/api/v1/connections/${connectionId}/mapping/preview`,
          accountsEditor ? { dimensions: plans, accounts: accountsEditor.plan() } : { dimensions: plans });
        if (mine === asked) {
          body.replaceChildren(previewTable(answer, plans), accountsEditor ? accountsPreview(answer.accounts) : "");
        }
      } catch (error) {
        if (!(error instanceof ApiError || error instanceof NetworkError)) throw error;
        if (mine === asked) body.replaceChildren(el("p", { class: "field-error" }, error.message));
      }
    }, PREVIEW_DELAY_MS);
  };
  return { region, ask, stop: () => clearTimeout(timer) };
}

async function createDimension(name) {
  try {
    return await sendJson("POST", "/api/v1/dimensions", { name });
  } catch (error) {
    if (!(error instanceof ApiError || error instanceof NetworkError)) throw error;
    notify(error.message, "error");
    return null;
  }
}

export async function saveMapping(connectionId, plans, accounts = null) {
  return sendJson("PUT", `/api/v1/connections/${connectionId}/mapping`,
    accounts ? { dimensions: plans, accounts } : { dimensions: plans });
}

export function savedSentence(name, saved) {
  const created = saved.members_created.length
    ? ` New members: ${saved.members_created.slice(0, 5).join(", ")}${saved.members_created.length > 5 ? "…" : ""}.` : "";
  const accounts = saved.accounts_moved?.accounts
    ? ` ${count(saved.accounts_moved.accounts, "account")} re-mapped (${count(saved.accounts_moved.lines, "line")}).`
    : "";
  return `${name}: mapping saved; ${count(saved.lines_moved, "loaded line")} moved.${created}${accounts}`;
}

// --- the wizard's step

// Reads the companies just chosen (the first refresh), then shows the mapping with the proposal and its preview.
// `draft.mapping` is what Finish saves; `draft.refreshed` says the first refresh has started.
export function wizardMappingStep(body, draft, changed) {
  let stopped = false;
  let editor = null;
  let preview = null;
  let loaded = false;
  const status = el("div", { "aria-live": "polite" });
  const skip = el("button", { class: "link-button", type: "button", onclick: () => {
    loaded = true;
    draft.mapping = null;
    status.replaceChildren(el("p", {}, "Skipped: you can map dimensions later from the connection's details."));
    changed();
  } }, "Map later");
  body.append(el("p", { class: "secondary" }, `Ledgerpane reads the chosen companies first, so the preview shows `
    + "where their lines land."), status);

  const follow = async (runId) => {
    while (!stopped && body.isConnected) {
      const connection = await getJson(`/api/v1/connections/${draft.connectionId}`);
      const run = connection.last_run;
      if (run && run.id === runId && !ACTIVE_RUN.has(run.status)) return run;
      status.replaceChildren(el("div", { class: "progress" },
        el("div", { class: "bar", role: "progressbar", "aria-label": `Reading ${draft.name}` }),
        el("span", {}, run ? progressText(run) : "Waiting to start…")), el("p", {}, skip));
      await new Promise((resolve) => { setTimeout(resolve, RUN_POLL_MS); });
    }
    return null;
  };

  const start = async () => {
    const started = await sendJson("POST", `/api/v1/connections/${draft.connectionId}/refresh`, {});
    draft.refreshed = true;
    const run = await follow(started.run_id);
    if (!run || stopped || loaded) return;
    if (!["succeeded", "partly_succeeded"].includes(run.status)) {
      loaded = true;
      status.replaceChildren(el("div", { class: "message", role: "alert" },
        el("p", {}, `The first refresh did not finish: ${run.error || "see the integration log"}. `
          + "You can map dimensions later from the connection's details.")));
      changed();
      return;
    }
    const data = await getJson(`/api/v1/connections/${draft.connectionId}/mapping`);
    if (stopped || loaded || !body.isConnected) return;
    loaded = true;
    if (!data.provider_dimensions.length) {
      draft.mapping = null;
      status.replaceChildren(el("p", {}, `${draft.provider.name} has no dimensions to map for these companies.`));
      changed();
      return;
    }
    const groups = el("div");
    editor = mappingEditor(groups, data, { editable: true, changed: () => {
      preview.ask();
      changed();
    }, onCreateDimension: createDimension });
    preview = livePreview(draft.connectionId, editor);
    draft.mapping = editor;
    status.replaceChildren(el("p", {}, "Proposed matches (same name or code) are filled in."), groups, preview.region);
    preview.ask();
    changed();
  };
  start().catch((error) => {
    if (!(error instanceof ApiError || error instanceof NetworkError)) throw error;
    loaded = true;
    status.replaceChildren(el("div", { class: "message", role: "alert" }, el("p", {}, error.message)));
    changed();
  });
  return {
    ready: () => loaded && !(editor && draft.mapping && editor.problem()),
    leave: async () => {
      stopped = true;
      preview?.stop();
      return true;
    },
  };
}

// The Finish step's sentence about the mapping, and its work.
export function mappingAtFinish(draft) {
  if (getState().workspace.role !== "admin") {
    return { text: "An admin can map this source's dimensions onto the workspace's later, from its details.",
      save: null };
  }
  if (!draft.mapping) return { text: null, save: null };
  const plans = draft.mapping.plans();
  return {
    text: plans.length ? "Finish saves the mapping: the lines already read move to where it says, and every "
      + "refresh after follows it." : "Nothing is mapped yet: lines land on Unmapped until an admin maps them.",
    save: plans.length ? () => saveMapping(draft.connectionId, plans) : null,
  };
}

// --- on the connection's details

export function mappingSection(connection, role) {
  const unmapped = connection.unmapped || {};
  const id = `mapping-${connection.id}`;
  const review = connection.mapping_review
    ? el("div", { class: "message warn", role: "alert" },
      el("p", {}, "Source changed: review mapping. ", el("span", { class: "review-text" },
        connection.mapping_review.split("\n").slice(-3).join(" "))),
      role === "admin"
        ? el("button", { class: "button small primary", type: "button", "data-focus": "review",
          onclick: () => navigate(`/connections/${connection.id}/mapping`) }, "Review mapping")
        : el("p", {}, "Ask a workspace admin to review the mapping."))
    : null;
  const names = unmapped.names || [];
  const lines = [
    unmapped.members
      ? `${count(unmapped.members, "provider member lands", "provider members land")} on Unmapped: `
        + `${names.slice(0, 5).join(", ")}${unmapped.members > 5 ? "…" : ""}.`
      : "No provider member of a mapped dimension lands on Unmapped.",
    unmapped.dimensions_not_mapped
      ? `${count(unmapped.dimensions_not_mapped, "provider dimension is", "provider dimensions are")} not mapped.`
      : null,
    unmapped.accounts
      ? `${count(unmapped.accounts, "account lands", "accounts land")} on the Unmapped account: `
        + `${(unmapped.account_names || []).slice(0, 5).join(", ")}${unmapped.accounts > 5 ? "…" : ""}.`
      : null,
  ].filter(Boolean);
  return el("section", { class: "card", "aria-labelledby": id },
    el("h3", { id }, "Mapping"),
    review,
    ...lines.map((line) => el("p", { class: "unmapped-count" }, line)),
    el("div", { class: "row-actions" },
      el("button", { class: "button small", type: "button", "data-focus": "mapping",
        onclick: () => navigate(`/connections/${connection.id}/mapping`) },
      role === "admin" ? "Edit mapping" : "View mapping"),
      el("a", { href: `#/connections/${connection.id}/mapping/changes`, "data-focus": "changes" },
        "Recent mapping changes")));
}

// --- the mapping screen: the editor (admins) or the mapping in words (members)

export function mappingView(container, { id }) {
  const connectionId = Number(id);
  const admin = getState().workspace.role === "admin";
  let preview = null;
  Promise.all([getJson(`/api/v1/connections/${id}`), getJson(`/api/v1/connections/${id}/mapping`)])
    .then(([connection, data]) => {
      const heading = el("h2", { class: "subtitle", tabindex: "-1" }, `Mapping: ${connection.name}`);
      const groups = el("div");
      const accountsPart = el("div");
      const back = () => navigate(`/connections/${connectionId}`);
      const page = el("div", { class: admin ? "wizard" : null }, backTo(connection), heading);
      if (data.review) {
        page.append(el("div", { class: "message warn" }, el("p", {}, "Source changed: review mapping. ",
          el("span", { class: "review-text" }, data.review.split("\n").join(" ")))));
      }
      if (!data.provider_dimensions.length && !data.accounts.length) {
        page.append(el("p", {}, `${connection.name} has no provider dimensions yet: they arrive with a refresh.`));
        container.append(page);
        heading.focus();
        return;
      }
      const save = el("button", { class: "button primary", type: "button" }, "Save mapping");
      let editor = null;
      let accounts = null;
      const changed = () => {
        save.disabled = Boolean(editor?.problem() || accounts?.problem());
        preview?.ask();
      };
      editor = mappingEditor(groups, data, { editable: admin, onCreateDimension: admin ? createDimension : null,
        changed });
      accounts = accountsEditor(accountsPart, data, { editable: admin, changed });
      page.append(el("p", { class: "secondary" }, admin
        ? "Proposed matches (same name or code) are filled in beside what is saved. Saving moves the lines already "
          + "loaded, and every refresh after follows it."
        : "Only a workspace admin can change the mapping."), groups, accountsPart);
      if (admin) {
        preview = livePreview(connectionId, editor, accounts);
        page.append(preview.region);
        preview.ask();
        save.addEventListener("click", async () => {
          save.disabled = true;
          try {
            const saved = await saveMapping(connectionId, editor.plans(), accounts.plan());
            back();
            notify(savedSentence(connection.name, saved), "success");
            loadConnections().catch(() => {});
          } catch (error) {
            if (!(error instanceof ApiError || error instanceof NetworkError)) throw error;
            notify(error.message, "error");
            save.disabled = false;
          }
        });
      }
      container.append(page, admin ? el("div", { class: "wizard-footer" },
        el("button", { class: "link-button", type: "button", onclick: back }, "Cancel"), save)
        : el("button", { class: "button", type: "button", onclick: back }, `Back to ${connection.name}`));
      if (admin) document.getElementById("footer").hidden = true;
      heading.focus();
    })
    .catch((error) => container.replaceChildren(el("p", { role: "alert" }, error.message)));
  return () => {
    preview?.stop();
    document.getElementById("footer").hidden = false;
  };
}

function backTo(connection) {
  return el("button", { class: "button small back", type: "button",
    onclick: () => navigate(`/connections/${connection.id}`) }, icon("back"), `Back to ${connection.name}`);
}

// --- the audit trail: who changed what, when

export function mappingChangesView(container, { id }) {
  Promise.all([getJson(`/api/v1/connections/${id}`), getJson(`/api/v1/mapping/changes?connection_id=${id}&per_page=20`)])
    .then(([connection, changes]) => {
      const heading = el("h2", { class: "subtitle", tabindex: "-1" }, `Mapping changes: ${connection.name}`);
      container.append(backTo(connection), heading,
        changes.items.length
          ? el("ul", { class: "plain-list changes", "aria-label": "Recent mapping changes" },
            ...changes.items.map((change) => el("li", {},
              el("p", {}, change.summary),
              el("p", { class: "secondary" }, `${change.user === "refresh" ? "A refresh (by rule)" : change.user}`
                + ` · ${when(change.created_at)}`))))
          : el("p", {}, "No change to this connection's mapping yet."),
        changes.total > changes.items.length
          ? el("p", { class: "secondary" }, `The latest ${changes.items.length} of ${changes.total}.`) : "");
      heading.focus();
    })
    .catch((error) => container.replaceChildren(el("p", { role: "alert" }, error.message)));
}
