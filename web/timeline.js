// The event timeline of a task: every event of its log, in order, with its time and data.
// Events only ever get appended, so a refresh appends the new ones and leaves the rest (and
// any <details> a reader opened) alone.

import { h } from "./dom.js";
import { clockTime, formatDuration, formatPercent, parseTime } from "./format.js";
import { valueNode } from "./values.js";

const TITLES = {
  TaskSubmitted: "Submitted",
  TaskStarted: "Started",
  TaskProgress: "Progress",
  TaskCheckpoint: "Checkpoint",
  TaskSucceeded: "Succeeded",
  TaskFailed: "Failed",
  TaskCancelled: "Cancelled",
  TaskRetried: "Retried",
};

// Already shown by the entry's head line, or by the page header.
const SHOWN_IN_HEAD = new Set(["type", "time", "task_id", "task_type", "attempt"]);
const SHOWN_IN_PROGRESS_HEAD = new Set([...SHOWN_IN_HEAD, "progress", "message"]);
// A command's who, from where and why (docs/design.md, "Threat model") read as one line.
const SHOWN_IN_COMMAND_HEAD = new Set([...SHOWN_IN_HEAD, "actor", "via", "reason"]);
const COMMANDS = new Set(["TaskSubmitted", "TaskCancelled", "TaskRetried"]);

/** "Cancelled by ops-eu via cli: wrong input"; events from before actors were kept have none. */
function commandTitle(base, { actor, via, reason } = {}) {
  if (!actor) return base;
  return `${base} by ${actor}${via ? ` via ${via}` : ""}${reason ? `: ${reason}` : ""}`;
}

function title(event) {
  const base = TITLES[event.type] ?? event.type;
  if (COMMANDS.has(event.type)) return commandTitle(base, event.data);
  if (event.type !== "TaskProgress") return base;
  const { progress, message } = event.data ?? {};
  return `${base} ${formatPercent(progress)}${message ? ` · ${message}` : ""}`;
}

function hiddenFields(event) {
  if (event.type === "TaskProgress") return SHOWN_IN_PROGRESS_HEAD;
  if (COMMANDS.has(event.type) && event.data?.actor) return SHOWN_IN_COMMAND_HEAD;
  return SHOWN_IN_HEAD;
}

function dataList(event) {
  const hidden = hiddenFields(event);
  // An optional field left unset (no timeout, no retry time) tells nothing about the event.
  const entries = Object.entries(event.data ?? {}).filter(
    ([key, value]) => !hidden.has(key) && value !== null && value !== undefined,
  );
  if (entries.length === 0) return null;
  return h(
    "dl",
    { class: "event-data" },
    entries.map(([key, value]) =>
      h("div", { class: "kv-row" }, h("dt", {}, key), h("dd", {}, valueNode(key, value))),
    ),
  );
}

function entry(event, origin) {
  const at = parseTime(event.time);
  const offset = origin !== null && at !== null ? `+${formatDuration(at - origin)}` : "";
  return h(
    "li",
    { class: "event", dataset: { eventType: event.type, seq: event.seq, testid: "timeline-item" } },
    h("span", { class: "event-marker", "aria-hidden": "true" }),
    h(
      "div",
      { class: "event-body" },
      h(
        "div",
        { class: "event-head" },
        h("strong", { class: "event-title" }, title(event)),
        h("span", { class: "event-seq muted", title: "Position in the event log" }, `#${event.seq}`),
      ),
      h(
        "div",
        { class: "event-meta muted" },
        h("time", { class: "event-time", datetime: event.time }, clockTime(event.time)),
        offset && h("span", {}, offset),
        event.data?.attempt && h("span", {}, `attempt ${event.data.attempt}`),
      ),
      dataList(event),
    ),
  );
}

/** Show events (ordered by seq) in list, appending what is not there yet. */
export function renderTimeline(list, taskId, events) {
  if (list.dataset.taskId !== taskId) {
    list.replaceChildren();
    list.dataset.taskId = taskId;
    list.dataset.lastSeq = "-1";
  }
  const origin = events.length ? parseTime(events[0].time) : null;
  const lastSeq = Number(list.dataset.lastSeq);
  const fresh = events.filter((event) => Number(event.seq) > lastSeq);
  if (fresh.length === 0) return;
  list.append(...fresh.map((event) => entry(event, origin)));
  list.dataset.lastSeq = String(fresh[fresh.length - 1].seq);
}

/** The last TaskFailed event, which says on which attempt and why the task failed. */
export function lastFailure(events) {
  for (let i = events.length - 1; i >= 0; i -= 1) {
    if (events[i].type === "TaskFailed") return events[i];
  }
  return null;
}
