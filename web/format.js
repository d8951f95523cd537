// Labels and number, time and size formatting shared by every view.

import { builtinLabel } from "./builtins.js";
import { h } from "./dom.js";

export const STATUSES = ["PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"];

const STATUS_LABELS = {
  PENDING: "Pending",
  RUNNING: "Running",
  SUCCESS: "Success",
  FAILED: "Failed",
  CANCELLED: "Cancelled",
};

export function statusLabel(status) {
  return STATUS_LABELS[status] ?? String(status);
}

/** "num_rows" -> "Num rows": a name from code as a label, in sentence case. */
export function humanize(name) {
  const words = String(name).replaceAll("_", " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A task type's label: a built-in's own, else its name in sentence case ("Roll dice"). */
export function typeLabel(taskType) {
  return builtinLabel(taskType) ?? humanize(taskType);
}

export function canCancel(status) {
  return status === "PENDING" || status === "RUNNING";
}

export function canRetry(status) {
  return status === "FAILED" || status === "CANCELLED";
}

/** The first block of a task id: enough to tell tasks apart on screen. */
export function shortId(id) {
  return String(id).split("-")[0];
}

/** The name a task is shown under: its label, or its short id when it has none. */
export function taskTitle(task) {
  return task.name ? task.name : `Task ${shortId(task.id)}`;
}

const numberFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 4 });
const integerFormat = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });

export function formatNumber(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return value == null ? "–" : String(value);
  return numberFormat.format(value);
}

export function formatCount(value) {
  return typeof value === "number" ? integerFormat.format(value) : "–";
}

export function formatPercent(value) {
  return `${Math.floor(Number(value) || 0)}%`;
}

export function formatBytes(bytes) {
  if (typeof bytes !== "number") return "–";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** A span of milliseconds, at the precision a person cares about for that length. */
export function formatDuration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(Math.floor(seconds % 60)).padStart(2, "0")} s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${String(minutes % 60).padStart(2, "0")} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

export function parseTime(iso) {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/** "12 s ago", "5 min ago", "in 3 s": how far a moment is from now. */
function relativeTime(iso, now = Date.now()) {
  const ms = parseTime(iso);
  if (ms === null) return "–";
  const delta = Math.round((now - ms) / 1000);
  const span = Math.abs(delta);
  let text;
  if (span < 5) return "just now";
  if (span < 60) text = `${span} s`;
  else if (span < 3600) text = `${Math.floor(span / 60)} min`;
  else if (span < 86400) text = `${Math.floor(span / 3600)} h`;
  else text = `${Math.floor(span / 86400)} d`;
  return delta >= 0 ? `${text} ago` : `in ${text}`;
}

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
const clockFormat = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  fractionalSecondDigits: 3,
  hour12: false,
});
const minuteFormat = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  hour12: false,
});

export function absoluteTime(iso) {
  const ms = parseTime(iso);
  return ms === null ? "–" : dateTimeFormat.format(ms);
}

/** Wall-clock time to the millisecond, for the event timeline. */
export function clockTime(iso) {
  const ms = parseTime(iso);
  return ms === null ? "–" : clockFormat.format(ms);
}

export function minuteTime(iso) {
  const ms = parseTime(iso);
  return ms === null ? "–" : minuteFormat.format(ms);
}

/**
 * A <time> element showing how long ago iso was; the ticker in app.js keeps its text current.
 * The exact moment is in its title and datetime attribute.
 */
export function relativeTimeElement(iso) {
  if (!iso) return h("span", { class: "muted" }, "–");
  return h("time", { datetime: iso, title: absoluteTime(iso), dataset: { relative: "" } }, relativeTime(iso));
}

/**
 * The time between two moments; while end is unknown it runs up to now, and the ticker in
 * app.js keeps it current.
 */
export function elapsedElement(startIso, endIso) {
  const start = parseTime(startIso);
  if (start === null) return h("span", { class: "muted" }, "–");
  const end = parseTime(endIso);
  if (end !== null) return h("span", {}, formatDuration(end - start));
  return h("span", { dataset: { since: startIso } }, formatDuration(Date.now() - start));
}

/** Bring every relative time and running duration under root up to date. */
export function refreshTimes(root, now = Date.now()) {
  for (const el of root.querySelectorAll("time[data-relative]")) {
    el.textContent = relativeTime(el.getAttribute("datetime"), now);
  }
  for (const el of root.querySelectorAll("[data-since]")) {
    const start = parseTime(el.dataset.since);
    if (start !== null) el.textContent = formatDuration(now - start);
  }
}

export function statusBadge(status, testId) {
  return h("span", { class: "badge", dataset: { status, testid: testId } }, statusLabel(status));
}

/** A progress bar whose fill width is set through the CSSOM, which the CSP allows. */
export function progressBar(task, testId) {
  const fill = h("div", { class: "progress-fill" });
  const bar = h(
    "div",
    {
      class: "progress",
      role: "progressbar",
      "aria-label": "Progress",
      "aria-valuemin": 0,
      "aria-valuemax": 100,
      dataset: { testid: testId },
    },
    fill,
  );
  setProgress(bar, task);
  return bar;
}

export function setProgress(bar, task) {
  const value = Math.max(0, Math.min(100, Number(task.progress) || 0));
  const shown = task.status === "SUCCESS" ? 100 : value;
  bar.setAttribute("aria-valuenow", String(Math.floor(shown)));
  bar.dataset.status = task.status;
  bar.firstElementChild.style.width = `${shown}%`;
}
