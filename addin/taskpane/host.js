// The one module that knows about Office.js. Every other module works the same in Excel and in a
// plain browser; when a screen needs an Office-only call, it gets it from here, with a browser
// fallback beside it.

const OFFICE_JS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js";
// Office.onReady answers within a second inside Excel, and in a plain browser once office.js has
// loaded. Past this deadline (a CDN that never answers) we stop waiting and call it a browser.
const OFFICE_DEADLINE_MS = 10000;

let hostPromise = null;

// "excel" inside Excel (web, Windows, Mac), otherwise "browser". Never rejects, and nothing should
// wait on it to render: without internet office.js cannot load, and that is simply browser mode.
export function detectHost() {
  hostPromise ??= new Promise((resolve) => {
    const deadline = setTimeout(() => resolve("browser"), OFFICE_DEADLINE_MS);
    const settle = (host) => {
      clearTimeout(deadline);
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
