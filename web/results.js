// A task's result, rendered for its type: CSV column statistics, the per-recipient outcome of an
// email task, thumbnails of produced images. Any other type's result, or a built-in's of a shape
// its view does not know (one stored as a file), gets the generic view (generic-result.js).

import { fileUrl } from "./api.js";
import { h } from "./dom.js";
import { formatBytes, formatCount, formatNumber } from "./format.js";
import { genericResult } from "./generic-result.js";

const EMAIL_ROWS_SHOWN = 200;

/** A table whose columns from numericFrom up to (not including) numericTo are right-aligned numbers. */
function table(testId, headers, rows, numericFrom = 1, numericTo = headers.length) {
  return h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "data-table compact", dataset: { testid: testId } },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          headers.map((text, i) =>
            h("th", { scope: "col", class: i >= numericFrom && i < numericTo ? "num" : null }, text),
          ),
        ),
      ),
      h("tbody", {}, rows),
    ),
  );
}

function columnEntries(columns) {
  if (Array.isArray(columns)) return columns.map((column) => [column.name ?? "", column]);
  return Object.entries(columns ?? {});
}

function topEntry(item) {
  if (Array.isArray(item)) return `${item[0]} (${formatNumber(item[1])})`;
  if (item && typeof item === "object" && "value" in item)
    return `${item.value} (${formatNumber(item.count)})`;
  return String(item);
}

/** The most frequent values of a text column: [{value, count}], [value, count] pairs or a map. */
function topText(top) {
  if (top === null || top === undefined) return "–";
  if (Array.isArray(top)) return top.map(topEntry).join(", ");
  if (typeof top === "object") return Object.entries(top).map(topEntry).join(", ");
  return String(top);
}

function csvResult(result) {
  const entries = columnEntries(result.columns);
  const numeric = entries.filter(([, stats]) => "mean" in stats || "sum" in stats);
  const text = entries.filter(([, stats]) => !("mean" in stats || "sum" in stats));
  const parts = [
    h(
      "p",
      { class: "result-summary", dataset: { testid: "csv-summary" } },
      `${formatCount(result.rows)} rows · ${entries.length} columns`,
    ),
  ];
  if (numeric.length) {
    const rows = numeric.map(([name, c]) =>
      h(
        "tr",
        { dataset: { column: name } },
        h("th", { scope: "row" }, name),
        [c.count, c.nulls, c.sum, c.mean, c.min, c.max, c.std].map((v) =>
          h("td", { class: "num" }, formatNumber(v)),
        ),
      ),
    );
    parts.push(
      h("h3", {}, "Numeric columns"),
      table("csv-numeric-table", ["Column", "Count", "Nulls", "Sum", "Mean", "Min", "Max", "Std"], rows),
    );
  }
  if (text.length) {
    const rows = text.map(([name, c]) =>
      h(
        "tr",
        { dataset: { column: name } },
        h("th", { scope: "row" }, name),
        h("td", { class: "num" }, formatNumber(c.count)),
        h("td", { class: "num" }, formatNumber(c.nulls)),
        h("td", { class: "num" }, formatNumber(c.distinct)),
        h("td", { class: "wrap" }, topText(c.top)),
      ),
    );
    parts.push(
      h("h3", {}, "Text columns"),
      table("csv-text-table", ["Column", "Count", "Nulls", "Distinct", "Most frequent"], rows, 1, 4),
    );
  }
  return parts;
}

function recipientRow(recipient) {
  return h(
    "tr",
    { dataset: { status: recipient.status } },
    h("td", { class: "wrap" }, String(recipient.to ?? "")),
    h(
      "td",
      {},
      h(
        "span",
        { class: "badge small", dataset: { status: recipient.status === "sent" ? "SUCCESS" : "FAILED" } },
        String(recipient.status ?? ""),
      ),
    ),
    h("td", { class: "mono wrap" }, String(recipient.message_id ?? "–")),
    h("td", { class: "wrap" }, String(recipient.error ?? "")),
  );
}

function emailResult(result) {
  const recipients = Array.isArray(result.recipients) ? result.recipients : [];
  const body = h("tbody");
  const tableEl = h(
    "div",
    { class: "table-scroll" },
    h(
      "table",
      { class: "data-table compact", dataset: { testid: "email-table" } },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["To", "Status", "Message id", "Error"].map((t) => h("th", { scope: "col" }, t)),
        ),
      ),
      body,
    ),
  );
  body.append(...recipients.slice(0, EMAIL_ROWS_SHOWN).map(recipientRow));
  const parts = [
    h(
      "p",
      { class: "result-summary", dataset: { testid: "email-summary" } },
      `${formatCount(result.sent)} sent · ${formatCount(result.failed)} failed`,
    ),
    tableEl,
  ];
  if (recipients.length > EMAIL_ROWS_SHOWN) {
    const more = h(
      "button",
      { type: "button", class: "button small" },
      `Show all ${formatCount(recipients.length)} recipients`,
    );
    more.addEventListener("click", () => {
      body.append(...recipients.slice(EMAIL_ROWS_SHOWN).map(recipientRow));
      more.remove();
    });
    parts.push(more);
  }
  return parts;
}

function imageFigure(image, index) {
  const size = `${image.width ?? "?"}×${image.height ?? "?"} · ${formatBytes(image.bytes)}`;
  const label = image.name ?? image.source ?? `Image ${index + 1}`;
  if (!image.file_id) {
    return h(
      "figure",
      { class: "image-result", dataset: { testid: "image-result" } },
      h("figcaption", {}, h("strong", {}, label), h("span", {}, size)),
    );
  }
  const url = fileUrl(image.file_id);
  return h(
    "figure",
    { class: "image-result", dataset: { testid: "image-result", fileId: image.file_id } },
    h(
      "a",
      { href: url, target: "_blank", rel: "noopener" },
      h("img", { src: url, alt: `${label}, ${size}`, loading: "lazy" }),
    ),
    h(
      "figcaption",
      {},
      h("strong", {}, label),
      h("span", {}, size),
      h("a", { href: url, download: "", dataset: { testid: "image-download" } }, "Download"),
    ),
  );
}

function imageResult(result) {
  const images = Array.isArray(result.images) ? result.images : [];
  return [
    h("p", { class: "result-summary" }, `${images.length} image${images.length === 1 ? "" : "s"}`),
    h("div", { class: "image-grid", dataset: { testid: "image-results" } }, images.map(imageFigure)),
  ];
}

const RENDERERS = {
  csv_processing: (result) => (result.columns ? csvResult(result) : null),
  email_sending: (result) => (Array.isArray(result.recipients) ? emailResult(result) : null),
  image_processing: (result) => (Array.isArray(result.images) ? imageResult(result) : null),
};

function pendingText(task) {
  if (task.status === "FAILED") return "No result: the task failed.";
  if (task.status === "CANCELLED") return "No result: the task was cancelled.";
  return "The result appears here when the task succeeds.";
}

/** The nodes that show task's result. */
export function renderResult(task) {
  if (!task.result) return [h("p", { class: "muted" }, pendingText(task))];
  return RENDERERS[task.task_type]?.(task.result) ?? genericResult(task.result);
}
