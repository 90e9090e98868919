// The one module that knows about Office.js. Every other module works the same in Excel and in a
// plain browser; when a screen needs an Office-only call (the consent dialog, the theme), it gets it
// from here, with the browser's way beside it.

const OFFICE_JS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js";
// Office.onReady answers within a second inside Excel, and in a plain browser once office.js has
// loaded. Past this deadline (a CDN that never answers) we stop waiting and call it a browser.
const OFFICE_DEADLINE_MS = 10000;
const POPUP_WATCH_MS = 400;
const DIALOG_CLOSED = 12006;
const DIALOG_BLOCKED = 12011;

let hostPromise = null;
let hostName = "browser"; // known synchronously, so a click can still open a popup the browser allows

// "excel" inside Excel (web, Windows, Mac), otherwise "browser". Never rejects, and nothing should
// wait on it to render: without internet office.js cannot load, and that is simply browser mode.
export function detectHost() {
  hostPromise ??= new Promise((resolve) => {
    const deadline = setTimeout(() => resolve("browser"), OFFICE_DEADLINE_MS);
    const settle = (host) => {
      clearTimeout(deadline);
      hostName = host;
      if (host === "excel") followOfficeTheme();
      resolve(host);
    };
    loadOfficeJs()
      .then((Office) => Office.onReady((info) => {
        settle(info && info.host === Office.HostType.Excel ? "excel" : "browser");
      }))
      .catch(() => settle("browser"));
  });
  return hostPromise;
}

// Loaded from Microsoft's CDN, as Office requires, by a script tag whose failure we can see
// (a static tag may fail before any module runs, and then nobody hears about it).
function loadOfficeJs() {
  if (window.Office) return Promise.resolve(window.Office);
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = OFFICE_JS;
    script.async = true;
    script.addEventListener("load", () => (window.Office ? resolve(window.Office) : reject(new Error("no Office"))));
    script.addEventListener("error", () => reject(new Error("office.js did not load")));
    document.head.append(script);
  });
}

// Inside Excel the pane follows Office's theme, not the system's (they can differ); in a browser the
// stylesheet follows prefers-color-scheme by itself.
function followOfficeTheme() {
  const theme = window.Office?.context?.officeTheme;
  if (!theme || !theme.bodyBackgroundColor) return;
  document.documentElement.dataset.theme = isDark(theme.bodyBackgroundColor) ? "dark" : "light";
}

function isDark(hex) {
  const value = parseInt(String(hex).replace("#", "").slice(0, 6), 16);
  if (Number.isNaN(value)) return false;
  const [r, g, b] = [value >> 16, (value >> 8) & 255, value & 255];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b < 128;
}

// The provider's consent, started from our origin. `startLink()` resolves to our /oauth/start/... link.
// Resolves to the callback page's outcome: {outcome: "connected" | "refused" | "failed", connection_id,
// message}, or {outcome: "closed"} / {outcome: "blocked"} when the window went away or never opened.
// Call it straight from a click: a browser only allows a popup opened by the user's gesture.
export function openConsent(startLink) {
  return hostName === "excel" ? officeDialog(startLink) : browserPopup(startLink);
}

function officeDialog(startLink) {
  return startLink().then((link) => new Promise((resolve) => {
    const url = new URL(link, window.location.origin).href;
    window.Office.context.ui.displayDialogAsync(url, { height: 70, width: 40 }, (result) => {
      if (result.status === window.Office.AsyncResultStatus.Failed) {
        resolve({ outcome: result.error.code === DIALOG_BLOCKED ? "blocked" : "failed", message: result.error.message });
        return;
      }
      const dialog = result.value;
      dialog.addEventHandler(window.Office.EventType.DialogMessageReceived, (arg) => {
        if (arg.origin && arg.origin !== window.location.origin) return;
        dialog.close();
        resolve(resultFrom(parse(arg.message)));
      });
      dialog.addEventHandler(window.Office.EventType.DialogEventReceived, (arg) => {
        resolve({ outcome: arg.error === DIALOG_CLOSED ? "closed" : "failed" });
      });
    });
  }));
}

function browserPopup(startLink) {
  // Opened blank at once (still inside the click), then sent to the start link once we have it.
  const popup = window.open("", "ledgerpane-consent", "popup,width=520,height=700");
  if (!popup) return Promise.resolve({ outcome: "blocked" });
  return new Promise((resolve) => {
    let settled = false;
    const finish = (result) => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      window.removeEventListener("message", onMessage);
      if (!popup.closed) popup.close();
      resolve(result);
    };
    const onMessage = (event) => {
      // Only our own callback page, in the window we opened, may answer.
      if (event.origin !== window.location.origin || event.source !== popup) return;
      if (event.data && event.data.kind === "oauth-result") finish(resultFrom(event.data));
    };
    const watch = setInterval(() => popup.closed && finish({ outcome: "closed" }), POPUP_WATCH_MS);
    window.addEventListener("message", onMessage);
    startLink()
      .then((link) => { if (!settled) popup.location.href = new URL(link, window.location.origin).href; })
      .catch((error) => finish({ outcome: "failed", message: error.message }));
  });
}

function parse(message) {
  try {
    return JSON.parse(message);
  } catch {
    return null;
  }
}

function resultFrom(data) {
  if (!data || data.kind !== "oauth-result") return { outcome: "failed" };
  return { outcome: data.outcome, connection_id: data.connection_id, message: data.message };
}

// ---- The workbook (the Workbook screen) ----------------------------------------------------------------
// Inside Excel, `batch(context)` runs in one Excel.run: its context.sync() calls are the requests Excel sees.
// Resolves to null in a plain browser, where there is no workbook to write to.
export async function inWorkbook(batch) {
  if ((await detectHost()) !== "excel" || !window.Excel) return null;
  return window.Excel.run(batch);
}

// Resizing a table in place and inserting sheets from an .xlsx file both need ExcelApi 1.13 (Excel 2021 and
// later, Microsoft 365, Excel on the web); older perpetual Excel has neither.
export async function excelIsRecentEnough() {
  if ((await detectHost()) !== "excel") return false;
  return Boolean(window.Office?.context?.requirements?.isSetSupported("ExcelApi", "1.13"));
}

// Adds the named sheets of an .xlsx file (its bytes as base64) after the workbook's own sheets. Only the
// report sheet: a template's sample Actuals table must not land beside the user's loaded one.
export function insertSheets(base64, sheetNames) {
  return window.Excel.run(async (context) => {
    context.workbook.insertWorksheetsFromBase64(base64, { positionType: "End", sheetNamesToInsert: sheetNames });
    await context.sync();
  });
}
