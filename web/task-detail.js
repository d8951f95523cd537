// The task detail page (#/tasks/<id>): header, progress, error, result, parameters and the
// live event timeline, with Cancel and Retry enabled only in the states the API accepts them.

import { cancelTask, getTask, retryTask, taskEvents } from "./api.js";
import { byId, one, setChildren } from "./dom.js";
import {
  absoluteTime,
  canCancel,
  canRetry,
  elapsedElement,
  formatPercent,
  relativeTimeElement,
  setProgress,
  statusLabel,
  taskTitle,
  typeLabel,
} from "./format.js";
import { renderResult } from "./results.js";
import { lastFailure, renderTimeline } from "./timeline.js";
import { errorMessage, showError, showNotice } from "./toasts.js";
import { fillDefinitionList } from "./values.js";

// Progress events can come many times a second; the timeline is refetched at most this often.
const EVENTS_INTERVAL_MS = 300;

function progressText(task) {
  const percent = formatPercent(task.progress);
  switch (task.status) {
    case "PENDING":
      return "Waiting for a worker.";
    case "RUNNING":
      return task.progress_message ? `${percent} · ${task.progress_message}` : percent;
    case "SUCCESS":
      return "Done.";
    default:
      return `${statusLabel(task.status)} at ${percent}.`;
  }
}

function failureText(task, failure) {
  if (!failure) return `Attempt ${task.attempts} of ${task.max_attempts}`;
  const { attempt, reason, will_retry: willRetry, retry_at: retryAt } = failure.data ?? {};
  const parts = [`Attempt ${attempt ?? task.attempts} of ${task.max_attempts}`];
  if (reason && reason !== "error") parts.push(reason === "max_deliver" ? "the worker kept dying" : reason);
  if (willRetry) parts.push(retryAt ? `retrying at ${absoluteTime(retryAt)}` : "will be retried");
  return parts.join(" · ");
}

// The API answers 422 for an id that is not a UUID: for a reader, that task does not exist either.
function isNotFound(error) {
  return error.status === 404 || error.status === 422;
}

function timeCell(el, iso) {
  if (!iso) {
    setChildren(el, "–");
    return;
  }
  setChildren(el, relativeTimeElement(iso));
}

export class TaskDetailView {
  constructor({ store }) {
    this.store = store;
    this.root = byId("view-detail");
    this.article = byId("task-detail");
    this.missing = byId("detail-missing");
    this.timeline = byId("timeline");
    this.cancelButton = byId("cancel-button");
    this.retryButton = byId("retry-button");
    this.id = null;
    this.task = null;
    this.events = [];
    this.visible = false;
    this.busy = false;
    this.eventsInFlight = false;
    this.eventsDirty = false;
    this.resultKey = null;
    this.parametersKey = null;
    this.cancelButton.addEventListener("click", () => this.act(cancelTask, "Cancel requested."));
    this.retryButton.addEventListener("click", () => this.act(retryTask, "Retry submitted."));
    byId("copy-link").addEventListener("click", () => this.copyLink());
    store.subscribe((changed) => {
      if (!this.visible || !changed.has(this.id)) return;
      this.renderTask(store.get(this.id));
      this.refreshEvents();
    });
  }

  show(route) {
    const fresh = route.id !== this.id;
    if (fresh) this.reset(route.id);
    if (fresh || !this.visible) this.load();
    this.visible = true;
  }

  hide() {
    this.visible = false;
  }

  resync() {
    if (this.visible) this.load();
  }

  reset(id) {
    this.id = id;
    this.task = null;
    this.events = [];
    this.resultKey = null;
    this.parametersKey = null;
    this.timeline.replaceChildren();
    delete this.timeline.dataset.taskId;
    const cached = this.store.get(id);
    if (cached) this.renderTask(cached);
    else this.renderLoading();
  }

  async load() {
    const id = this.id;
    try {
      const task = await getTask(id);
      if (id !== this.id) return;
      this.renderTask(this.store.put(task));
      await this.refreshEvents();
    } catch (error) {
      if (id !== this.id) return;
      // A task just accepted may not be in the read model yet; the stream brings it when it is.
      if (isNotFound(error) && this.task) return;
      if (isNotFound(error)) this.renderMissing(id);
      else showError(`Could not load task ${id}: ${errorMessage(error)}`);
    }
  }

  /**
   * Fetch the events after the last one shown, page by page, coalescing calls made while a
   * fetch is in flight: a long history is read once, not again on every change.
   */
  async refreshEvents() {
    if (this.eventsInFlight) {
      this.eventsDirty = true;
      return;
    }
    const id = this.id;
    this.eventsInFlight = true;
    try {
      let after = this.events.length ? this.events[this.events.length - 1].seq : null;
      do {
        const page = await taskEvents(id, after);
        if (id !== this.id) return;
        this.events.push(...page.items);
        renderTimeline(this.timeline, id, this.events);
        after = page.next_cursor;
      } while (after !== null);
      if (this.task) this.renderError(this.task);
    } catch (error) {
      if (id !== this.id || (isNotFound(error) && this.task)) return;
      showError(`Could not load the timeline: ${errorMessage(error)}`);
    } finally {
      this.eventsInFlight = false;
      if (this.eventsDirty) {
        this.eventsDirty = false;
        setTimeout(() => this.refreshEvents(), EVENTS_INTERVAL_MS);
      }
    }
  }

  renderLoading() {
    this.article.hidden = false;
    this.missing.hidden = true;
    byId("detail-title").textContent = "Loading…";
    byId("detail-id").textContent = this.id;
    this.cancelButton.disabled = true;
    this.retryButton.disabled = true;
  }

  renderMissing(id) {
    this.article.hidden = true;
    this.missing.hidden = false;
    one(this.missing, ".detail-missing-text").textContent =
      `No task has the id “${id}”. It may have been mistyped.`;
    document.title = "Task not found · taskbus";
  }

  renderTask(task) {
    if (!task || task.id !== this.id) return;
    this.task = task;
    this.article.hidden = false;
    this.missing.hidden = true;
    this.article.dataset.status = task.status;
    this.article.dataset.taskId = task.id;
    document.title = `${taskTitle(task)} · taskbus`;
    byId("detail-title").textContent = taskTitle(task);
    byId("detail-id").textContent = task.id;
    this.renderFacts(task);
    setProgress(byId("detail-progress"), task);
    byId("detail-progress-text").textContent = progressText(task);
    this.renderButtons();
    this.renderError(task);
    this.renderResult(task);
    this.renderParameters(task);
  }

  renderFacts(task) {
    const status = byId("detail-status");
    status.dataset.status = task.status;
    status.textContent = statusLabel(task.status);
    byId("detail-type").textContent = typeLabel(task.task_type);
    byId("detail-attempt").textContent = `${task.attempts} of ${task.max_attempts}`;
    timeCell(byId("detail-created"), task.created_at);
    timeCell(byId("detail-started"), task.started_at);
    timeCell(byId("detail-completed"), task.completed_at);
    const waitedUntil = task.started_at ?? (task.status === "PENDING" ? null : task.completed_at);
    setChildren(byId("detail-waited"), elapsedElement(task.created_at, waitedUntil));
    setChildren(byId("detail-duration"), elapsedElement(task.started_at, task.completed_at));
  }

  renderButtons() {
    const status = this.task?.status;
    this.cancelButton.disabled = this.busy || !canCancel(status);
    this.retryButton.disabled = this.busy || !canRetry(status);
  }

  renderError(task) {
    const section = byId("detail-error-section");
    section.hidden = !task.error;
    if (!task.error) return;
    byId("detail-error").textContent = task.error;
    byId("detail-error-attempt").textContent = failureText(task, lastFailure(this.events));
  }

  renderResult(task) {
    const key = `${task.status}:${JSON.stringify(task.result)}`;
    if (key === this.resultKey) return;
    this.resultKey = key;
    setChildren(byId("detail-result"), renderResult(task));
  }

  renderParameters(task) {
    const key = JSON.stringify(task.parameters);
    if (key === this.parametersKey) return;
    this.parametersKey = key;
    fillDefinitionList(byId("detail-parameters"), task.parameters, "No parameters: the defaults apply.");
  }

  async act(request, notice) {
    const id = this.id;
    this.busy = true;
    this.renderButtons();
    try {
      const task = await request(id);
      if (task && task.id === id) this.renderTask(this.store.put(task));
      showNotice(notice);
    } catch (error) {
      showError(errorMessage(error));
    } finally {
      this.busy = false;
      this.renderButtons();
    }
  }

  async copyLink() {
    if (!navigator.clipboard) {
      showError("Copying needs a secure page (https or localhost); copy the address bar instead.");
      return;
    }
    try {
      await navigator.clipboard.writeText(location.href);
      showNotice("Link copied.");
    } catch (error) {
      showError(`Could not copy the link: ${errorMessage(error)}`);
    }
  }
}
