// A connection's overnight schedule: one line for the list, and on the details screen the editor (admins)
// or the schedule in words (members), with a paused schedule's reason and its Resume action.

import { sendJson } from "../api.js";
import { announce, el } from "../dom.js";
import { loadConnections } from "../store.js";

const KINDS = { daily: "Every day", weekdays: "Weekdays (Monday to Friday)", every_n_hours: "Every few hours" };
const EVERY_HOURS = [1, 2, 3, 4, 6, 8, 12];

export function scheduleText(schedule) {
  if (schedule.paused) return "Paused";
  if (schedule.kind === "every_n_hours") return `Every ${hours(schedule.every_hours)} from ${schedule.time}`;
  return `${schedule.kind === "weekdays" ? "Weekdays" : "Daily"} at ${schedule.time}`;
}

export function nextRunText(connection) {
  const schedule = connection.schedule;
  if (!connection.next_run_at) return schedule.paused ? "Paused" : schedule.note || "None planned";
  return new Date(connection.next_run_at).toLocaleString("en-GB", {
    weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
    timeZone: schedule.timezone,
  });
}

function hours(count) {
  return count === 1 ? "hour" : `${count} hours`;
}

// The schedule section of the details screen.
export function scheduleSection(connection, role) {
  const schedule = connection.schedule;
  const paused = schedule.paused ? pausedMessage(connection, role) : null;
  const said = el("p", {}, `${scheduleText({ ...schedule, paused: false })} (${schedule.timezone}). `
    + `Next run: ${nextRunText(connection).replace(/\.$/, "")}.`);  // a note may end its own sentence
  return el("section", { class: "card", "aria-labelledby": `schedule-${connection.id}` },
    el("h3", { id: `schedule-${connection.id}` }, "Schedule"),
    paused, said, role === "admin" ? editor(connection) : null);
}

function pausedMessage(connection, role) {
  const resume = el("button", { class: "button small primary", type: "button", "data-focus": "resume",
    onclick: () => save(connection, "POST", `/api/v1/connections/${connection.id}/schedule/resume`, undefined,
      resume, "Schedule resumed.") }, "Resume schedule");
  return el("div", { class: "message", role: "alert" },
    el("p", {}, connection.schedule.paused_reason || "This schedule is paused."),
    role === "admin" ? resume : el("p", {}, "Ask a workspace admin to resume it."));
}

function editor(connection) {
  const schedule = connection.schedule;
  const kind = el("select", { "data-focus": "schedule-kind" },
    ...Object.entries(KINDS).map(([key, label]) => el("option", { value: key, selected: key === schedule.kind }, label)));
  const time = el("input", { type: "time", value: schedule.time, required: true, "data-focus": "schedule-time" });
  const every = el("select", { "data-focus": "schedule-every" }, ...EVERY_HOURS.map((count) =>
    el("option", { value: String(count), selected: count === (schedule.every_hours || 6) }, `Every ${hours(count)}`)));
  const everyField = el("label", { class: "field" }, el("span", {}, "How often"), every);
  const error = el("p", { class: "field-error", role: "alert" });
  const showEvery = () => { everyField.hidden = kind.value !== "every_n_hours"; };
  kind.addEventListener("change", showEvery);
  showEvery();
  const button = el("button", { class: "button small", type: "submit" }, "Save schedule");
  const form = el("form", { class: "schedule-editor", "aria-label": "Edit schedule" },
    el("label", { class: "field" }, el("span", {}, "Runs"), kind),
    el("label", { class: "field" }, el("span", {}, `Local time (${schedule.timezone})`), time),
    everyField, error, button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = { kind: kind.value, time: time.value };
    if (kind.value === "every_n_hours") body.every_hours = Number(every.value);
    save(connection, "PUT", `/api/v1/connections/${connection.id}/schedule`, body, button, "Schedule saved.", error);
  });
  return form;
}

async function save(connection, method, path, body, button, done, error = null) {
  button.disabled = true;
  if (error) error.textContent = "";
  try {
    await sendJson(method, path, body);
    announce(done);
    await loadConnections();
  } catch (failure) {
    const message = failure.message || String(failure);
    if (error) error.textContent = message;
    else announce(message);
  } finally {
    button.disabled = false;
  }
}
