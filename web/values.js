// Rendering of free-form values (parameters, event data) as text: scalars inline, structures
// folded into a <details> with their JSON, file ids as download links.

import { fileUrl } from "./api.js";
import { h } from "./dom.js";
import { formatNumber } from "./format.js";

const FILE_KEYS = new Set(["file_id", "file_ids"]);

function fileLinks(value) {
  const ids = Array.isArray(value) ? value : [value];
  return h(
    "span",
    { class: "file-links" },
    ids.map((id) => h("a", { href: fileUrl(id), download: "", class: "mono" }, String(id))),
  );
}

function recipientText(recipient) {
  if (typeof recipient === "string") return recipient;
  return recipient.name ? `${recipient.name} <${recipient.email}>` : String(recipient.email);
}

function folded(value) {
  const count = Array.isArray(value) ? value.length : Object.keys(value).length;
  const noun = Array.isArray(value) ? "item" : "field";
  const size = `${count} ${noun}${count === 1 ? "" : "s"}`;
  return h(
    "details",
    { class: "folded" },
    h("summary", {}, size),
    h("pre", { class: "json" }, JSON.stringify(value, null, 2)),
  );
}

function scalarNode(value) {
  if (typeof value === "number") return h("span", { class: "num" }, formatNumber(value));
  if (typeof value === "boolean") return h("span", {}, value ? "yes" : "no");
  return h("span", { class: "text-value" }, String(value));
}

/** A value as a node: key decides special cases such as files and recipients. */
export function valueNode(key, value) {
  if (value === null || value === undefined) return h("span", { class: "muted" }, "–");
  if (FILE_KEYS.has(key)) return fileLinks(value);
  if (key === "recipients" && Array.isArray(value) && value.length <= 20) {
    return h(
      "ul",
      { class: "plain-list" },
      value.map((r) => h("li", {}, recipientText(r))),
    );
  }
  return typeof value === "object" ? folded(value) : scalarNode(value);
}

/** Fill a <dl> with one term per key of object. */
export function fillDefinitionList(dl, object, emptyText) {
  dl.replaceChildren();
  const entries = Object.entries(object ?? {});
  if (entries.length === 0) {
    dl.append(h("p", { class: "muted" }, emptyText));
    return;
  }
  for (const [key, value] of entries) {
    dl.append(h("div", { class: "kv-row" }, h("dt", {}, key), h("dd", {}, valueNode(key, value))));
  }
}
