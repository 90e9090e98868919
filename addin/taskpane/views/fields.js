// Field types: the provider's other fields each stream keeps beside its lines (a journal's reference, a tax
// type...), the type each loads as, and a few values from the last refresh. Admins choose the types; members read
// them. The service refuses a type the last refresh's values do not fit, naming those values.

import { ApiError, getJson, NetworkError, sendJson } from "../api.js";
import { announce, el, icon } from "../dom.js";
import { navigate } from "../router.js";
import { getState } from "../store.js";
import { DATA_TYPES, FIELD_TYPES, fieldTypeText } from "../words.js";

const SAMPLES_SHOWN = 5;

// The card on a connection's details: what field types are, and the way to them.
export function fieldTypesSection(connection, role) {
  const id = `fields-${connection.id}`;
  return el("section", { class: "card", "aria-labelledby": id },
    el("h3", { id }, "Field types"),
    el("p", { class: "secondary" }, "Fields kept beside each line, such as a journal's reference or tax type, "
      + "and the type each loads as."),
    el("div", { class: "row-actions" },
      el("button", { class: "button small", type: "button", "data-focus": "fields",
        onclick: () => navigate(`/connections/${connection.id}/fields`) },
      role === "admin" ? "Edit field types" : "View field types")));
}

export function fieldTypesView(container, { id }) {
  const connectionId = Number(id);
  const admin = getState().workspace.role === "admin";
  Promise.all([getJson(`/api/v1/connections/${connectionId}`), getJson(`/api/v1/connections/${connectionId}/streams`)])
    .then(([connection, data]) => {
      const heading = el("h2", { class: "subtitle", tabindex: "-1" }, `Field types: ${connection.name}`);
      const kept = data.streams.filter((stream) => stream.fields.length);
      container.append(
        el("button", { class: "button small back", type: "button",
          onclick: () => navigate(`/connections/${connectionId}`) }, icon("back"), `Back to ${connection.name}`),
        heading,
        el("p", { class: "secondary" }, admin
          ? "A field loads as its provider sends it unless you choose a type. A type applies from the next refresh; "
            + "a value that does not fit it is left empty and named in the log."
          : "Only a workspace admin can change field types."),
        ...(kept.length
          ? kept.map((stream) => streamCard(connectionId, stream, data.types, admin))
          : [el("p", {}, `${connection.name} keeps no other fields.`)]));
      heading.focus();
    })
    .catch((error) => {
      container.append(el("div", { class: "message", role: "alert" }, el("p", {}, error.message)));
    });
}

function streamTitle(stream) {
  return DATA_TYPES[stream.data_type] || stream.name;
}

function streamCard(connectionId, stream, types, admin) {
  const id = `stream-${stream.name}`;
  const card = el("section", { class: "card", "aria-labelledby": id });
  const problem = el("div", { id: `${id}-problem` });
  const status = el("p", { class: "secondary", role: "status" });
  const draw = (current) => {
    const rows = current.fields.map((field) => fieldRow(stream, field, types, admin));
    const children = [el("h3", { id }, streamTitle(current)), problem, ...rows.map((row) => row.node)];
    if (admin) {
      const save = el("button", { class: "button primary small", type: "button" },
        `Save ${streamTitle(current).toLowerCase()} field types`);
      save.addEventListener("click", async () => {
        save.disabled = true;
        const chosen = rows.filter((row) => row.choice());
        try {
          const saved = await sendJson("PUT", `/api/v1/connections/${connectionId}/streams/${stream.name}/fields`,
            { fields: chosen.map((row) => row.choice()) });
          problem.replaceChildren();
          draw(saved);
          status.textContent = saved.changed.length
            ? `Field types saved: ${saved.changed.join("; ")}. They apply from the next refresh. Checked: `
              + saved.checked.join(" ")
            : "Nothing changed.";
        } catch (error) {
          save.disabled = false;
          refused(error, chosen, problem);
        }
      });
      children.push(el("div", { class: "row-actions" }, save));
    }
    card.replaceChildren(...children, status);
  };
  draw(stream);
  return card;
}

// The service's refusal beside the choices as they were: the field at fault (`fields.N.type`, N among those sent)
// is marked and focused, so the admin sees which values it did not fit.
function refused(error, sent, problem) {
  const message = error instanceof NetworkError || error instanceof ApiError
    ? error.message : "The field types could not be saved.";
  problem.replaceChildren(el("div", { class: "message", role: "alert" }, el("p", {}, message)));
  for (const row of sent) row.select.removeAttribute("aria-invalid");
  const position = error instanceof ApiError && error.field ? error.field.match(/^fields\.(\d+)\./) : null;
  const row = position ? sent[Number(position[1])] : null;
  if (row) {
    row.select.setAttribute("aria-invalid", "true");
    row.select.setAttribute("aria-describedby", problem.id);
    row.select.focus();
  }
  announce(message);
}

// One field: its name, the type it loads as (a choice for admins), and values from the last refresh.
function fieldRow(stream, field, types, admin) {
  const base = `field-${stream.name}-${field.name}`;
  const samples = field.samples.length
    ? `Last refresh: ${field.samples.slice(0, SAMPLES_SHOWN).map(String).join(", ")}`
      + `${field.samples.length > SAMPLES_SHOWN ? "…" : ""}`
    : "No values yet: they arrive with a refresh.";
  const defaultText = fieldTypeText(field.default_type, field.default_scale);
  if (!admin) {
    return { node: el("div", { class: "field-type" },
      el("p", {}, el("strong", {}, field.name), `: ${fieldTypeText(field.type, field.scale)}`,
        field.overridden ? ` (sent as ${defaultText})` : ""),
      el("p", { class: "secondary" }, samples)), choice: () => null };
  }
  const select = el("select", { class: "input", id: `${base}-type`, "data-field": field.name },
    el("option", { value: "" }, `As sent (${defaultText})`),
    ...types.map((type) => el("option", { value: type, selected: field.overridden && field.type === type },
      FIELD_TYPES[type] || type)));
  const places = el("input", { class: "input", id: `${base}-scale`, type: "number", min: "0", max: "10",
    inputmode: "numeric", value: field.overridden && field.type === "decimal" ? field.scale ?? 2 : 2 });
  const placesLabel = el("label", { class: "field", for: `${base}-scale` },
    el("span", {}, `${field.name} decimal places`), places);
  const showPlaces = () => { placesLabel.hidden = select.value !== "decimal"; };
  select.addEventListener("change", showPlaces);
  showPlaces();
  const node = el("div", { class: "field-type" },
    el("label", { class: "field", for: `${base}-type` }, el("span", {}, `Load ${field.name} as`), select),
    placesLabel,
    el("p", { class: "secondary" }, samples));
  return {
    node,
    select,
    choice: () => (select.value
      ? { name: field.name, type: select.value, ...(select.value === "decimal" ? { scale: Number(places.value) } : {}) }
      : null),
  };
}
