// The result of a task type without a view of its own: a list of objects as a table, an object
// as key/value rows (its lists of objects as tables, its lists of scalars inline), anything
// else as JSON. Keys are shown as written, the way the type's result model names them.

import { h } from "./dom.js";
import { valueNode } from "./values.js";

// Objects nested deeper than this are folded into JSON rather than rows in rows in rows.
const MAX_DEPTH = 2;

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function isScalar(value) {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

/** A table of objects whose columns are every key any of them has, in the order first seen. */
function objectTable(key, rows) {
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "data-table compact", dataset: { testid: "result-table", key } },
      h("thead", {}, h("tr", {}, columns.map((column) => h("th", { scope: "col" }, column)))),
      h(
        "tbody",
        {},
        rows.map((row) =>
          h(
            "tr",
            {},
            columns.map((column) => h("td", { dataset: { column } }, valueNode(column, row[column]))),
          ),
        ),
      ),
    ),
  );
}

function valueView(key, value, depth) {
  if (Array.isArray(value) && value.length > 0 && value.every(isObject)) return objectTable(key, value);
  if (Array.isArray(value) && value.every(isScalar)) {
    return h(
      "ul",
      { class: "inline-list" },
      value.map((item) => h("li", {}, valueNode(key, item))),
    );
  }
  if (isObject(value) && depth < MAX_DEPTH) return rows(value, depth + 1);
  return valueNode(key, value);
}

function rows(object, depth) {
  const entries = Object.entries(object);
  if (entries.length === 0) return h("p", { class: "muted" }, "An empty result.");
  return h(
    "dl",
    { class: "kv" },
    entries.map(([key, value]) =>
      h(
        "div",
        { class: "kv-row", dataset: { key, testid: "result-field" } },
        h("dt", {}, key),
        h("dd", {}, valueView(key, value, depth)),
      ),
    ),
  );
}

/** The nodes that show a result no type-specific view knows. */
export function genericResult(result) {
  let view;
  if (Array.isArray(result) && result.length > 0 && result.every(isObject)) view = objectTable("", result);
  else if (isObject(result)) view = rows(result, 0);
  else view = h("pre", { class: "json" }, JSON.stringify(result, null, 2));
  return [h("div", { class: "generic-result", dataset: { testid: "generic-result" } }, view)];
}
