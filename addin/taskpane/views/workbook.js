// The Workbook screen: the workspace's sheets (Actuals, Accounts, Dimensions) loaded into Excel tables, how
// fresh the workbook's data is, and the report templates. In a plain browser it offers the same sheets as an
// .xlsx download instead, since only Excel has a workbook to write to.

import { ApiError, getJson, NetworkError } from "../api.js";
import { announce, el } from "../dom.js";
import { detectHost, excelIsRecentEnough, insertSheets, inWorkbook } from "../host.js";
import { getState, subscribe } from "../store.js";
import { count } from "../words.js";
import { fileBase64, saveFile } from "../workbook/download.js";
import { workbookFilters } from "../workbook/filters.js";
import { keepStamp, readStamp, staleness, whenText } from "../workbook/stamp.js";
import { writeSheet } from "../workbook/writer.js";

const PAGE_ROWS = 50000;

export function workbookView(container) {
  const heading = el("h2", { class: "subtitle", tabindex: "-1" }, "Workbook");
  const freshness = el("div", { class: "freshness", "aria-live": "polite" });
  const overviewLine = el("p", { class: "secondary", "aria-live": "polite" }, "Loading…");
  const filters = workbookFilters(() => filtersChanged());
  const action = el("div", { class: "workbook-action" });
  const outcome = el("div", { "aria-live": "polite" });
  const templates = el("section", { class: "workbook-templates", "aria-labelledby": "templates-title", hidden: true });
  container.append(el("div", { class: "section-head" }, heading), freshness, overviewLine, filters.node, action,
    outcome, templates);

  let alive = true;
  let loading = false;
  let stopping = false;
  let lastDataAsOf;

  const query = (extra = {}) => {
    const params = new URLSearchParams();
    filters.addTo(params);
    for (const [name, value] of Object.entries(extra)) params.set(name, String(value));
    const text = params.toString();
    return text ? `?${text}` : "";
  };

  const say = (node, message, tone) => node.replaceChildren(message ? el("div", { class: `message ${tone}`,
    role: tone === "error" ? "alert" : "status" }, el("p", {}, message)) : "");

  // The workbook's stamp beside the workspace's newest refresh: fresh, never loaded, or worth a reload.
  const showFreshness = async (overview) => {
    const stamp = await inWorkbook((context) => readStamp(context));
    if (!alive) return;
    const stale = staleness(stamp, overview.data_as_of);
    if (stale) {
      freshness.replaceChildren(el("div", { class: "message warn", role: "alert" }, el("p", {}, stale),
        el("button", { class: "button small", type: "button", onclick: () => load() }, "Reload into workbook")));
    } else if (stamp) {
      freshness.replaceChildren(el("p", { class: "secondary" }, `This workbook holds data from ${stamp.workspace} as `
        + `of ${whenText(stamp.data_as_of)}, loaded ${whenText(stamp.loaded_at)}.`));
    } else {
      freshness.replaceChildren(el("p", { class: "secondary" }, "Nothing is loaded into this workbook yet."));
    }
  };

  let overviewAsked = 0;
  const showOverview = async () => {
    const asked = ++overviewAsked;
    const overview = await getJson(`/api/v1/workbook${query()}`);
    if (!alive || asked !== overviewAsked) return overview; // a later question (new filters) answers the screen
    lastDataAsOf = overview.data_as_of;
    overviewLine.textContent = `${overview.sheets.map((sheet) => `${sheet.name}: ${count(sheet.rows, "row")}`)
      .join(" · ")}. ${overview.data_as_of ? `Data as of ${whenText(overview.data_as_of)}.` : "No refresh yet."}`;
    return overview;
  };

  const progress = el("progress", { max: "1", value: "0", "aria-label": "Loading into workbook" });
  const progressText = el("p", { class: "secondary" });
  const cancel = el("button", { class: "button small", type: "button", onclick: () => {
    stopping = true;
    cancel.disabled = true;
    cancel.textContent = "Stopping…";
  } }, "Cancel");
  const loadButton = el("button", { class: "button primary", type: "button", onclick: () => load() },
    "Load into workbook");

  // New filters: the row counts a load would write, asked again once the user pauses.
  let countsTimer;
  const filtersChanged = () => {
    clearTimeout(countsTimer);
    countsTimer = setTimeout(() => {
      if (!alive || loading) return;
      showOverview().catch((error) => {
        if (!(error instanceof ApiError || error instanceof NetworkError)) throw error;
        overviewLine.replaceChildren(el("span", { role: "alert" }, error.message));
      });
    }, 300);
  };

  const load = async () => {
    if (loading) return;
    loading = true;
    stopping = false;
    clearTimeout(countsTimer);
    filters.setDisabled(true);
    say(outcome, "");
    cancel.disabled = false;
    cancel.textContent = "Cancel";
    progress.value = 0;
    progressText.textContent = "Starting…";
    action.replaceChildren(el("div", { class: "workbook-progress" }, progress, progressText, cancel));
    cancel.focus();
    announce("Loading into the workbook…");
    try {
      const overview = await showOverview();
      const done = await loadSheets(overview);
      const stopped = Object.entries(done.sheets).find(([, sheet]) => !sheet.complete);
      const message = stopped
        ? `Stopped: ${stopped[0]} holds ${stopped[1].rows.toLocaleString("en-GB")} of `
          + `${count(stopped[1].total, "row")}. Its table is consistent up to there; load again to bring in the rest.`
        : `Loaded ${Object.entries(done.sheets).map(([name, sheet]) => `${name} (${count(sheet.rows, "row")})`)
          .join(", ")}.`;
      say(outcome, message, stopped ? "warn" : "success");
      await showFreshness(overview);
    } catch (error) {
      if (!(error instanceof ApiError || error instanceof NetworkError || isExcelError(error))) throw error;
      const message = isExcelError(error) ? `Excel refused the change: ${error.message}` : error.message;
      say(outcome, message, "error");
    } finally {
      loading = false;
      filters.setDisabled(false);
      if (alive) {
        action.replaceChildren(loadButton);
        loadButton.focus();
      }
    }
  };

  const loadSheets = (overview) => inWorkbook(async (context) => {
    const stamp = { workspace: overview.workspace.name, data_as_of: overview.data_as_of,
      loaded_at: new Date().toISOString(), filters: query(), sheets: {} };
    const grandTotal = Math.max(1, overview.sheets.reduce((total, sheet) => total + sheet.rows, 0));
    // Until the load ends, the workbook says it is unfinished: a load that fails half-way leaves tables the
    // pane must not call up to date.
    keepStamp(context, { ...stamp, sheets: Object.fromEntries(overview.sheets.map((sheet) => [sheet.name,
      { rows: 0, total: sheet.rows, complete: false }])) });
    let before = 0;
    for (const sheet of overview.sheets) {
      const page = (offset) => getJson(`${sheet.href}${query({ offset, limit: PAGE_ROWS })}`);
      const result = await writeSheet(context, sheet, await page(0), {
        nextPage: page,
        stopRequested: () => stopping,
        stamp,
        onRows: (rows, total) => {
          progress.value = Math.min(1, (before + rows) / grandTotal);
          progressText.textContent = `${sheet.name}: ${rows.toLocaleString("en-GB")} of ${count(total, "row")} written`;
        },
      });
      stamp.sheets[sheet.name] = result;
      before += result.total;
      if (!result.complete) break;
    }
    keepStamp(context, stamp);
    await context.sync();
    return stamp;
  });

  const download = async (path, fileName, button) => {
    button.disabled = true;
    try {
      await saveFile(path, fileName);
      say(outcome, `${fileName} is downloaded.`, "success");
    } catch (error) {
      if (!(error instanceof ApiError || error instanceof NetworkError)) throw error;
      say(outcome, error.message, "error");
    } finally {
      button.disabled = false;
    }
  };

  const insertTemplate = async (template, button) => {
    button.disabled = true;
    try {
      await insertSheets(await fileBase64(template.href), [template.sheet]);
      say(outcome, `${template.title} is inserted at the end of the workbook. Its formulas read the Actuals table.`,
        "success");
    } catch (error) {
      if (!(error instanceof ApiError || error instanceof NetworkError || isExcelError(error))) throw error;
      say(outcome, isExcelError(error) ? `Excel refused the template: ${error.message}` : error.message, "error");
    } finally {
      button.disabled = false;
    }
  };

  const showTemplates = async (inExcel) => {
    let items;
    try {
      items = (await getJson("/api/v1/workbook/templates")).templates;
    } catch (error) {
      if (!(error instanceof ApiError || error instanceof NetworkError)) throw error;
      if (error.status === 404) return; // a service without templates
      templates.hidden = false;
      templates.replaceChildren(el("h3", { id: "templates-title" }, "Report templates"),
        el("p", { role: "alert" }, error.message));
      return;
    }
    const insertable = inExcel && await excelIsRecentEnough();
    if (!alive || !items.length) return;
    templates.hidden = false;
    templates.replaceChildren(
      el("h3", { id: "templates-title" }, "Report templates"),
      el("p", { class: "secondary" }, insertable
        ? "Each template adds sheets whose formulas read the Actuals table: load into the workbook first."
        : "Templates are .xlsx files whose formulas read an Actuals table; in Excel, Insert template adds them here."),
      el("ul", { class: "plain-list templates", "aria-label": "Report templates" }, ...items.map((template) => {
        const button = el("button", { class: "button small", type: "button",
          "aria-label": `${insertable ? "Insert template" : "Download"}: ${template.title}` },
        insertable ? "Insert template" : "Download");
        button.addEventListener("click", () => (insertable ? insertTemplate(template, button)
          : download(template.href, `${template.name}.xlsx`, button)));
        return el("li", { class: "template" }, el("p", { class: "template-title" }, template.title),
          el("p", { class: "secondary" }, template.description), button);
      })));
  };

  const start = async () => {
    const inExcel = (await detectHost()) === "excel";
    if (!alive) return;
    if (inExcel && !(await excelIsRecentEnough())) {
      action.replaceChildren(el("p", { role: "alert" }, "Loading into a workbook needs Excel 2021 or later, "
        + "Microsoft 365 or Excel on the web: this Excel cannot resize a table in place."));
    } else if (inExcel) {
      action.replaceChildren(loadButton);
    } else {
      const button = el("button", { class: "button primary", type: "button" }, "Download .xlsx");
      button.addEventListener("click", () => download(`/api/v1/workbook.xlsx${query()}`, "Ledgerpane.xlsx", button));
      freshness.replaceChildren(el("p", {}, "Loading into a workbook needs Excel: open Ledgerpane from Excel "
        + "(Home › Add-ins). Here you can download the same sheets as an .xlsx file."));
      action.replaceChildren(button);
    }
    const [overview] = await Promise.all([showOverview(), showChoices()]);
    if (inExcel) await showFreshness(overview);
    await showTemplates(inExcel);
  };

  // What the filters can choose from; without it the month range and the rows choice still work.
  const showChoices = async () => {
    try {
      const choices = await getJson("/api/v1/workbook/filters");
      if (alive) filters.fill(choices);
    } catch (error) {
      if (!(error instanceof ApiError || error instanceof NetworkError)) throw error;
      say(outcome, `The entity, account and member choices could not be read: ${error.message}`, "error");
    }
  };

  // A refresh that ends while the screen is open can make the workbook stale. The store keeps polling the
  // connections; only when a run's outcome there changes is the workspace asked again (that answer counts rows).
  const runsSeen = (state) => state.connections.items.map((connection) => `${connection.id}:`
    + `${connection.last_run ? `${connection.last_run.status}@${connection.last_run.finished_at}` : ""}`).join();
  let seen = runsSeen(getState());
  const unsubscribe = subscribe((state) => {
    const now = runsSeen(state);
    if (now === seen || loading || !alive) return;
    seen = now;
    const before = lastDataAsOf;
    showOverview().then((overview) => {
      if (!alive || loading || overview.data_as_of === before) return null;
      return detectHost().then((host) => (host === "excel" ? showFreshness(overview) : null));
    }).catch(() => {});
  });

  start().then(() => heading.focus()).catch((error) => {
    if (!(error instanceof ApiError || error instanceof NetworkError)) throw error;
    overviewLine.replaceChildren(el("span", { role: "alert" }, error.message));
  });
  return () => {
    alive = false;
    clearTimeout(countsTimer);
    stopping = true; // leaving the screen stops a load after its current request
    unsubscribe();
  };
}

// Excel's own refusals (OfficeExtension.Error, named RichApi.Error), as opposed to a bug in the pane.
function isExcelError(error) {
  const ExcelError = window.OfficeExtension && window.OfficeExtension.Error;
  return Boolean(error && ((ExcelError && error instanceof ExcelError) || error.name === "RichApi.Error"));
}
