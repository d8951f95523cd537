// A small DOM builder. Children that are strings become text nodes, so data from the server or
// from a user is never parsed as markup: there is no innerHTML anywhere in this UI.

const SVG_NS = "http://www.w3.org/2000/svg";

function applyProp(el, key, value) {
  if (key === "class") {
    el.setAttribute("class", value);
  } else if (key === "dataset") {
    for (const [name, item] of Object.entries(value)) {
      if (item !== undefined && item !== null) el.dataset[name] = String(item);
    }
  } else if (key.startsWith("on") && typeof value === "function") {
    el.addEventListener(key.slice(2), value);
  } else {
    el.setAttribute(key, value === true ? "" : String(value));
  }
}

function applyProps(el, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value !== undefined && value !== null && value !== false) applyProp(el, key, value);
  }
}

function appendChildren(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Build an HTML element: h("a", {href, class}, "text", otherNode). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  appendChildren(el, children);
  return el;
}

/** Build an SVG element, same calling convention as h(). */
export function s(tag, props = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  applyProps(el, props);
  appendChildren(el, children);
  return el;
}

/** The element with this id; throws so that a renamed id fails loudly at start-up. */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id}`);
  return el;
}

/** The first element matching selector inside root; throws when there is none. */
export function one(root, selector) {
  const el = root.querySelector(selector);
  if (!el) throw new Error(`missing element ${selector}`);
  return el;
}

/** Replace every child of el with children. */
export function setChildren(el, ...children) {
  el.replaceChildren();
  appendChildren(el, children);
}
