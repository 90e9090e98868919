// A small hash router: "#/connections/12" -> the view registered for "/connections/:id", with
// {id: "12"}. The hash keeps the browser's Back button working on the web, and in Excel needs no
// server routes. A view is a function (container, params) that may return a cleanup function.

const routes = [];
let container = null;
let fallback = "/connections";
let onChange = () => {};
let cleanup = null;
let rendered = null;

export function route(pattern, view) {
  const names = [];
  const regex = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, name) => {
    names.push(name);
    return "([^/]+)";
  })}$`);
  routes.push({ regex, names, view });
}

// Shows the view at once (so a message put up right after belongs to the new view), then the hash follows.
export function navigate(path) {
  if (window.location.hash !== `#${path}`) window.location.hash = path;
  render();
}

export function currentPath() {
  return window.location.hash.startsWith("#/") ? window.location.hash.slice(1) : fallback;
}

// `changed(path)` is told of every new view (the page tabs, clearing old messages).
export function startRouter(into, defaultPath, changed = () => {}) {
  container = into;
  fallback = defaultPath;
  onChange = changed;
  window.removeEventListener("hashchange", onHashChange);
  window.addEventListener("hashchange", onHashChange);
  rendered = null;
  render();
}

export function stopRouter() {
  window.removeEventListener("hashchange", onHashChange);
  if (cleanup) cleanup();
  cleanup = null;
  rendered = null;
}

function onHashChange() {
  if (currentPath() !== rendered) render();
}

function render() {
  const path = currentPath();
  if (cleanup) cleanup();
  cleanup = null;
  for (const { regex, names, view } of routes) {
    const match = regex.exec(path);
    if (match) {
      rendered = path;
      const params = Object.fromEntries(names.map((name, index) => [name, decodeURIComponent(match[index + 1])]));
      const hadFocus = container.contains(document.activeElement);
      container.replaceChildren();
      onChange(path);
      cleanup = view(container, params) || null;
      if (hadFocus) focusHeading();
      return;
    }
  }
  navigate(fallback);
}

// The control that had the focus went away with the old view (Finish, Save, a deleted row's menu): a keyboard
// user goes on from the new view's heading, not from the top of the page. Views that load first focus their
// heading themselves once it is there.
function focusHeading() {
  if (document.activeElement && document.activeElement !== document.body) return;
  const heading = container.querySelector("h2");
  if (!heading) return;
  if (!heading.hasAttribute("tabindex")) heading.setAttribute("tabindex", "-1");
  heading.focus();
}
