// Building DOM from API data. Strings always become text nodes, never markup: a workspace or
// connection name is whatever someone typed, and must never run as HTML.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (value === true) {
      node.setAttribute(name, "");
    } else if (value !== null && value !== undefined && value !== false) {
      node.setAttribute(name, String(value));
    }
  }
  node.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false)
    .map((child) => (child instanceof Node ? child : String(child))));
  return node;
}

export function byId(id) {
  return document.getElementById(id);
}

let tipCount = 0;

// An element that shows `tip` on hover and on keyboard focus, and is described by it for screen readers.
export function withTip(node, ...tip) {
  const id = `tip-${++tipCount}`;
  node.classList.add("has-tip");
  node.setAttribute("aria-describedby", id);
  node.append(el("span", { class: "tip", role: "tooltip", id }, ...tip));
  return node;
}

const PLAY = "M5 3.5v9a.5.5 0 0 0 .77.42l7-4.5a.5.5 0 0 0 0-.84l-7-4.5A.5.5 0 0 0 5 3.5Z";
const MORE = "M4 8a1.2 1.2 0 1 1-2.4 0A1.2 1.2 0 0 1 4 8Zm5.2 0a1.2 1.2 0 1 1-2.4 0 1.2 1.2 0 0 1 2.4 0Zm4 1.2a1.2 "
  + "1.2 0 1 0 0-2.4 1.2 1.2 0 0 0 0 2.4Z";
const BACK = "M7.35 3.15a.5.5 0 0 1 0 .7L3.7 7.5H13.5a.5.5 0 0 1 0 1H3.7l3.65 3.65a.5.5 0 0 1-.7.7l-4.5-4.5a.5.5 0 "
  + "0 1 0-.7l4.5-4.5a.5.5 0 0 1 .7 0Z";
const ICONS = { play: PLAY, more: MORE, back: BACK };

export function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}

export function announce(message) {
  byId("announcer").textContent = message;
}
