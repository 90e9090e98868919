// Add a data source, step by step: the catalog, the provider's setup form (only where its catalog
// entry has setup fields), the consent in an Office dialog or a popup, the environment (only where the
// sign-in reaches companies in more than one), the companies and ledgers, and Finish, which starts the
// first refresh. Reconnecting walks the same steps from the consent on.

import { notify } from "../actions.js";
import { ApiError, getJson, NetworkError, sendJson } from "../api.js";
import { announce, el } from "../dom.js";
import { openConsent } from "../host.js";
import { navigate } from "../router.js";
import { getState, loadConnections } from "../store.js";
import { count, DATA_TYPES, environmentChoice } from "../words.js";
import { mappingAtFinish, savedSentence, wizardMappingStep } from "./mapping.js";

const CONSENT_PROBLEMS = {
  refused: (name) => `You declined access at ${name}, so nothing was connected.`,
  closed: () => "The sign-in window was closed before you finished, so nothing was connected.",
  blocked: () => "Your browser blocked the sign-in window. Allow pop-ups for this site, then try again.",
  failed: () => "The sign-in did not complete.",
};

export function addView(container) {
  return wizard(container, { mode: "add", provider: null, setup: {}, connectionId: null, entities: [] });
}

export function reconnectView(container, { id }) {
  const draft = { mode: "reconnect", provider: null, setup: {}, connectionId: Number(id), entities: [] };
  getJson(`/api/v1/connections/${id}`).then((connection) => {
    draft.name = connection.name;
    draft.provider = getState().catalog.find((provider) => provider.key === connection.provider)
      || { key: connection.provider, name: connection.provider_name, setup_fields: [], data_types: [] };
    wizard(container, draft);
  }).catch((error) => container.replaceChildren(el("p", { role: "alert" }, error.message)));
  return () => {
    document.getElementById("footer").hidden = false;
  };
}

function stepsFor(draft) {
  return [
    draft.mode === "add" && { key: "source", title: "Choose a data source" },
    draft.provider && draft.provider.setup_fields.length > 0 && { key: "setup", title: `Set up ${draft.provider.name}` },
    { key: "consent", title: `Sign in to ${draft.provider ? draft.provider.name : "the provider"}` },
    environmentsOf(draft.entities).length > 1 && { key: "environment", title: "Choose an environment" },
    { key: "companies", title: "Choose companies and ledgers" },
    // Saving a mapping is for admins: a member adding a source skips it (Finish says an admin can map later).
    draft.mode === "add" && getState().workspace.role === "admin" && { key: "mapping", title: "Map dimensions" },
    { key: "finish", title: "Finish" },
  ].filter(Boolean);
}

function wizard(container, draft) {
  let index = 0;
  let ready = () => false; // whether Next may go on from the current step
  let leave = async () => true; // what Next does before moving on (saving), false to stay
  const back = el("button", { class: "button", type: "button" }, "Back");
  const next = el("button", { class: "button primary", type: "button" }, "Next");
  const cancel = el("button", { class: "link-button", type: "button", onclick: () => navigate("/connections") },
    "Cancel");
  const page = el("div", { class: "wizard" });
  container.replaceChildren(page,
    el("div", { class: "wizard-footer" }, cancel, el("div", { class: "row-actions" }, back, next)));
  document.getElementById("footer").hidden = true;

  const changed = () => {
    next.disabled = !ready();
  };
  const show = () => {
    const steps = stepsFor(draft);
    const step = steps[index];
    const heading = el("h3", { class: "subtitle", tabindex: "-1" }, step.title);
    const body = el("div");
    page.replaceChildren(
      el("h2", { class: "title" }, draft.mode === "add" ? "Add a data source" : `Reconnect ${draft.name}`),
      el("ol", { class: "steps", "aria-label": "Steps" }, ...steps.map((item, at) => el("li", {
        class: at < index ? "done" : null, "aria-current": at === index ? "step" : null,
        "aria-label": `${item.title}${at < index ? " (done)" : ""}`,
      }))),
      el("p", { class: "secondary" }, `Step ${index + 1} of ${steps.length}`),
      heading, body);
    back.hidden = index === 0;
    next.textContent = step.key === "finish" ? "Finish" : "Next";
    const handlers = STEPS[step.key](body, draft, changed, () => go(1));
    ready = handlers.ready;
    leave = handlers.leave || (async () => true);
    changed();
    heading.focus();
    announce(`Step ${index + 1} of ${steps.length}: ${step.title}`);
  };
  const go = async (delta) => {
    if (delta > 0) {
      next.disabled = true;
      const moveOn = await leave();
      if (!moveOn) {
        changed();
        return;
      }
      if (index === stepsFor(draft).length - 1) return;
    }
    index = Math.max(0, Math.min(index + delta, stepsFor(draft).length - 1));
    show();
  };
  back.addEventListener("click", () => go(-1));
  next.addEventListener("click", () => go(1));
  show();
  return () => {
    document.getElementById("footer").hidden = false;
  };
}

// Each step draws itself into `body` and returns {ready(), leave?()}; `changed()` re-checks Next,
// `advance()` moves on by itself (after a successful consent).
const STEPS = {
  source(body, draft, changed) {
    const cards = getState().catalog.map((provider) => {
      const input = el("input", { type: "radio", name: "provider", value: provider.key,
        checked: draft.provider && draft.provider.key === provider.key });
      input.addEventListener("change", () => {
        draft.provider = provider;
        changed();
      });
      return el("label", { class: "provider-card" }, input, el("span", {},
        el("strong", {}, provider.name), " ",
        provider.is_demo ? el("span", { class: "pill brand" }, "Demo") : null,
        el("span", { class: "secondary block" }, provider.is_demo
          ? "Try Ledgerpane on generated books: nothing real is connected."
          : `Brings in ${provider.data_types.map((key) => (DATA_TYPES[key] || key).toLowerCase()).join(", ")}.`)));
    });
    body.append(el("fieldset", { class: "choices cards" }, el("legend", {}, "Data sources you can connect"), ...cards));
    return { ready: () => Boolean(draft.provider) };
  },

  setup(body, draft, changed) {
    const inputs = draft.provider.setup_fields.map((field) => {
      const input = el("input", { class: "input", name: field.name, required: field.required,
        value: draft.setup[field.name] || "" });
      input.addEventListener("input", () => {
        draft.setup[field.name] = input.value.trim();
        changed();
      });
      return el("label", { class: "field" }, el("span", {}, field.label + (field.required ? "" : " (optional)")), input);
    });
    body.append(el("p", { class: "secondary" }, `${draft.provider.name} needs these before you sign in.`),
      el("div", { class: "form" }, ...inputs));
    return {
      ready: () => draft.provider.setup_fields.every((field) => !field.required || draft.setup[field.name]),
    };
  },

  consent(body, draft, changed, advance) {
    const name = draft.provider.name;
    const outcome = el("div", { "aria-live": "polite" });
    const signIn = el("button", { class: "button primary", type: "button" },
      draft.consented ? "Sign in again" : `Sign in to ${name}`);
    const note = draft.provider.consent_note;  // the catalog's words (GET /api/v1/providers)
    body.append(
      el("p", {}, `A window opens at ${name}. Sign in there and allow Ledgerpane to read your accounting data. `
        + "Ledgerpane never sees your password."),
      note ? el("p", { class: "message" }, note) : null,
      signIn, outcome);
    signIn.addEventListener("click", async () => {
      signIn.disabled = true;
      outcome.replaceChildren(el("p", { class: "secondary" }, "Waiting for the sign-in window…"));
      const result = await openConsent(() => startLink(draft));
      signIn.disabled = false;
      if (result.outcome === "connected") {
        draft.consented = true;
        draft.entities = (await getJson(`/api/v1/connections/${draft.connectionId}/entities`)).items;
        announce(`Connected. ${result.message || ""}`);
        advance();
        return;
      }
      const problem = (CONSENT_PROBLEMS[result.outcome] || CONSENT_PROBLEMS.failed)(name);
      outcome.replaceChildren(el("div", { class: "message", role: "alert" },
        el("p", {}, result.outcome === "failed" && result.message ? `${problem} ${result.message}` : problem)));
      signIn.textContent = "Try again";
      signIn.focus();
    });
    return { ready: () => Boolean(draft.consented) };
  },

  environment(body, draft, changed) {
    const environments = environmentsOf(draft.entities);
    if (!environments.includes(draft.environment)) {
      // Reconnecting: the environment of the companies already chosen.
      const chosen = draft.entities.find((entity) => entity.selected && entity.available && entity.group);
      draft.environment = chosen ? chosen.group : null;
    }
    const radios = environments.map((name) => {
      const input = el("input", { type: "radio", name: "environment", value: name,
        checked: draft.environment === name });
      input.addEventListener("change", () => {
        draft.environment = name;
        changed();
      });
      const companies = draft.entities.filter((entity) => entity.available && entity.group === name).length;
      return el("label", { class: "choice" }, input, el("span", {}, environmentChoice(name, companies)));
    });
    body.append(
      el("p", {}, "Your sign-in reaches more than one environment. Choose the one whose companies to bring in."),
      el("fieldset", { class: "choices" }, el("legend", {}, "Environments"), ...radios));
    return { ready: () => environments.includes(draft.environment) };
  },

  companies(body, draft, changed) {
    const shown = environmentsOf(draft.entities).length > 1
      ? draft.entities.filter((entity) => entity.group === draft.environment) : draft.entities;
    const chooser = companyChooser(shown, changed);
    body.append(chooser.element);
    return {
      ready: () => chooser.selected().length > 0,
      leave: () => saveSelection(draft.connectionId, chooser.selected(), (items) => {
        draft.entities = items;
      }),
    };
  },

  mapping(body, draft, changed) {
    return wizardMappingStep(body, draft, changed);
  },

  finish(body, draft) {
    const mapping = draft.mode === "add" ? mappingAtFinish(draft) : { text: null, save: null };
    const chosen = draft.entities.filter((entity) => entity.selected).map((entity) => entity.name);
    const types = (draft.provider.data_types || []).map((key) => DATA_TYPES[key] || key);
    body.append(
      el("dl", { class: "facts card" },
        el("dt", {}, "Data source"), el("dd", {}, draft.provider.name),
        el("dt", {}, "Companies"), el("dd", {}, chosen.join(", ")),
        types.length ? [el("dt", {}, "Data types"), el("dd", {}, types.join(", "))] : null),
      draft.refreshed ? null : el("p", {}, `Finish starts the first refresh of ${count(chosen.length, "company",
        "companies")}. It can take a few minutes; its progress shows in the list.`),
      mapping.text ? el("p", {}, mapping.text) : null);
    return {
      ready: () => true,
      leave: async () => {
        let saved = null;
        try {
          if (mapping.save) saved = await mapping.save();
          if (!draft.refreshed) await sendJson("POST", `/api/v1/connections/${draft.connectionId}/refresh`, {});
        } catch (error) {
          if (!(error instanceof ApiError || error instanceof NetworkError)) throw error;
          notify(error.message, "error");
          return false;
        }
        navigate("/connections");
        notify(saved ? savedSentence(draft.name, saved) : draft.refreshed
          ? `${draft.provider.name}: the first refresh is under way or done. Its outcome shows below.`
          : `${draft.provider.name}: the first refresh has started. Its progress shows below.`, "success");
        await loadConnections().catch(() => {});
        return true;
      },
    };
  },
};

// The groups the available companies sit in (environments), where the provider has them.
function environmentsOf(entities) {
  return [...new Set(entities.filter((entity) => entity.available && entity.group).map((entity) => entity.group))];
}

// Our start link for the consent: a new connection the first time, a fresh link for it after that.
async function startLink(draft) {
  if (draft.connectionId === null) {
    const answer = await sendJson("POST", "/api/v1/connections", { provider: draft.provider.key, setup: draft.setup });
    draft.connectionId = answer.connection.id;
    draft.name = answer.connection.name;
    return answer.authorize_url;
  }
  return (await sendJson("POST", `/api/v1/connections/${draft.connectionId}/reconnect`)).authorize_url;
}

async function saveSelection(connectionId, ids, saved) {
  try {
    const answer = await sendJson("PUT", `/api/v1/connections/${connectionId}/entities`, { selected_ids: ids });
    saved(answer.items);
    return true;
  } catch (error) {
    if (!(error instanceof ApiError || error instanceof NetworkError)) throw error;
    notify(error.message, "error");
    return false;
  }
}

// Checkboxes for the companies and ledgers the grant covers: the ones already chosen stay chosen; the
// first time (none chosen yet) all of them are, as the user just granted them at the provider.
export function companyChooser(entities, changed) {
  const available = entities.filter((entity) => entity.available);
  const anyChosen = available.some((entity) => entity.selected);
  const boxes = available.map((entity) => el("input", { type: "checkbox", value: entity.id,
    checked: anyChosen ? entity.selected : true, onchange: changed }));
  const element = el("fieldset", { class: "choices" }, el("legend", {}, "Companies and ledgers to bring in"),
    ...available.map((entity, at) => el("label", { class: "choice" }, boxes[at], el("span", {}, entity.name))),
    available.length ? null : el("p", {}, "The provider lists no company for this sign-in."));
  return { element, selected: () => boxes.filter((box) => box.checked).map((box) => Number(box.value)) };
}

export function companiesView(container, { id }) {
  const connectionId = Number(id);
  Promise.all([getJson(`/api/v1/connections/${id}`), getJson(`/api/v1/connections/${id}/entities`)])
    .then(([connection, entities]) => {
      const save = el("button", { class: "button primary", type: "button" }, "Save");
      const chooser = companyChooser(entities.items, () => {
        save.disabled = chooser.selected().length === 0;
      });
      save.addEventListener("click", async () => {
        if (await saveSelection(connectionId, chooser.selected(), () => {})) {
          navigate(`/connections/${connectionId}`);
          notify(`${connection.name}: companies saved. The next refresh brings them in.`, "success");
          loadConnections().catch(() => {});
        }
      });
      const heading = el("h2", { class: "subtitle", tabindex: "-1" }, `Edit companies: ${connection.name}`);
      container.append(el("div", { class: "wizard" }, heading, chooser.element),
        el("div", { class: "wizard-footer" },
          el("button", { class: "link-button", type: "button", onclick: () => navigate(`/connections/${connectionId}`) },
            "Cancel"), save));
      document.getElementById("footer").hidden = true;
      heading.focus();
    })
    .catch((error) => container.replaceChildren(el("p", { role: "alert" }, error.message)));
  return () => {
    document.getElementById("footer").hidden = false;
  };
}
