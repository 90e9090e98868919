// Building DOM from API data. Strings always become text nodes, never markup: a workspace or
// connection name is whatever someone typed, and must never run as HTML.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  node.append(...children.map((child) => (child instanceof Node ? child : String(child))));
  return node;
}

export function byId(id) {
  return document.getElementById(id);
}
