// One row of the task list, built once and then updated in place, so that a stream of progress
// events neither flickers nor takes the keyboard focus away from a link in the row.

import { h, setChildren } from "./dom.js";
import {
  elapsedElement,
  formatPercent,
  progressBar,
  relativeTimeElement,
  setProgress,
  shortId,
  statusBadge,
  statusLabel,
  taskTitle,
  typeLabel,
} from "./format.js";
import { taskHash } from "./router.js";

function cell(label, ...children) {
  return h("td", { dataset: { label } }, ...children);
}

function progressText(task) {
  if (task.status === "PENDING") return "Waiting";
  const percent = formatPercent(task.status === "SUCCESS" ? 100 : task.progress);
  return task.progress_message ? `${percent} · ${task.progress_message}` : percent;
}

export class TaskRow {
  constructor(task) {
    this.task = task;
    this.badge = statusBadge(task.status, "task-status");
    this.bar = progressBar(task, "task-progress");
    this.progressLabel = h("span", { class: "progress-text", dataset: { testid: "task-progress-text" } });
    this.attempt = h("span", { dataset: { testid: "task-attempt" } });
    this.duration = h("span", { dataset: { testid: "task-duration" } });
    const link = h(
      "a",
      { class: "task-link", href: taskHash(task.id), dataset: { testid: "task-link" } },
      taskTitle(task),
    );
    this.el = h(
      "tr",
      { dataset: { taskId: task.id, testid: "task-row" } },
      cell("Task", h("div", { class: "task-cell" }, link, h("code", { class: "task-id" }, shortId(task.id)))),
      cell("Type", typeLabel(task.task_type)),
      cell("Status", this.badge),
      cell("Progress", h("div", { class: "progress-cell" }, this.bar, this.progressLabel)),
      cell("Attempt", this.attempt),
      cell("Created", relativeTimeElement(task.created_at)),
      cell("Duration", this.duration),
    );
    this.render(task, true);
  }

  get createdAt() {
    return Date.parse(this.task.created_at) || 0;
  }

  update(task) {
    if (task === this.task) return;
    const timingChanged =
      task.started_at !== this.task.started_at || task.completed_at !== this.task.completed_at;
    this.task = task;
    this.render(task, timingChanged);
  }

  render(task, timingChanged) {
    this.el.dataset.status = task.status;
    this.badge.dataset.status = task.status;
    this.badge.textContent = statusLabel(task.status);
    setProgress(this.bar, task);
    this.progressLabel.textContent = progressText(task);
    this.attempt.textContent = `${task.attempts || 0} / ${task.max_attempts}`;
    if (timingChanged) setChildren(this.duration, elapsedElement(task.started_at, task.completed_at));
  }
}
