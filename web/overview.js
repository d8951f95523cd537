// The overview: counters per status, throughput over the last hour, queue depth per type and
// the live workers. It is refetched shortly after tasks change on the stream; worker heartbeats
// and the throughput's minute buckets are not on the stream, so it is also refreshed on a timer
// while the overview is on screen.

import { getStats, getWorkers } from "./api.js";
import { taskTypes } from "./catalog.js";
import { drawThroughput, summarize } from "./chart.js";
import { byId, h, one } from "./dom.js";
import {
  STATUSES,
  formatCount,
  parseTime,
  relativeTimeElement,
  shortId,
  typeLabel,
} from "./format.js";
import { submitHash, taskHash } from "./router.js";
import { errorMessage, showError } from "./toasts.js";

const REFRESH_MS = 5000;
const AFTER_CHANGE_MS = 1000;
// A worker heartbeats every few seconds; one silent for this long is probably gone.
const STALE_HEARTBEAT_MS = 30000;

function numberCell(label, value) {
  return h("td", { class: "num", dataset: { label } }, formatCount(value ?? 0));
}

function workerTasks(worker) {
  const ids = worker.current_tasks ?? [];
  if (ids.length === 0) return h("span", { class: "muted" }, "idle");
  return h(
    "span",
    { class: "task-links" },
    ids.map((id) => h("a", { href: taskHash(id), class: "mono", title: id }, shortId(id))),
  );
}

function workerRow(worker, now) {
  const beat = parseTime(worker.last_heartbeat);
  const stale = beat !== null && now - beat > STALE_HEARTBEAT_MS;
  return h(
    "tr",
    { dataset: { workerId: worker.worker_id, testid: "worker-row", stale: stale ? "true" : null } },
    h("td", { dataset: { label: "Worker" } }, h("code", {}, worker.worker_id)),
    h("td", { dataset: { label: "Type" } }, typeLabel(worker.task_type)),
    h("td", { dataset: { label: "Running now" } }, workerTasks(worker)),
    h("td", { class: "num", dataset: { label: "Processed" } }, formatCount(worker.processed)),
    h("td", { class: "num", dataset: { label: "Failed" } }, formatCount(worker.failed)),
    h("td", { dataset: { label: "Last heartbeat" } }, relativeTimeElement(worker.last_heartbeat)),
    h("td", { dataset: { label: "Up since" } }, relativeTimeElement(worker.started_at)),
  );
}

export class OverviewView {
  constructor({ store }) {
    this.root = byId("view-overview");
    this.chart = byId("throughput-chart");
    this.visible = false;
    this.timer = null;
    this.changeTimer = null;
    this.throughput = [];
    this.failing = false;
    this.freshTypes = false;
    store.subscribe(() => this.visible && this.refreshSoon());
    new ResizeObserver(() => this.drawChart()).observe(this.chart);
  }

  show() {
    this.visible = true;
    // The catalog afresh when opened: a type announced since has its queue row from the start.
    this.freshTypes = true;
    this.refresh();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
  }

  hide() {
    this.visible = false;
    clearInterval(this.timer);
    clearTimeout(this.changeTimer);
    this.changeTimer = null;
  }

  resync() {
    if (this.visible) this.refresh();
  }

  /** Refresh once after a burst of changes rather than once per change. */
  refreshSoon() {
    if (this.changeTimer) return;
    this.changeTimer = setTimeout(() => {
      this.changeTimer = null;
      if (this.visible) this.refresh();
    }, AFTER_CHANGE_MS);
  }

  refresh() {
    const fresh = this.freshTypes;
    this.freshTypes = false;
    this.guard(
      Promise.all([
        Promise.all([getStats(), taskTypes({ fresh })]).then(([stats, types]) =>
          this.renderStats(stats, types),
        ),
        getWorkers().then((workers) => this.renderWorkers(workers.items)),
      ]),
    );
  }

  /** Report a failed refresh once, not on every tick while the server stays unreachable. */
  async guard(work) {
    try {
      await work;
      this.failing = false;
    } catch (error) {
      if (!this.failing) showError(`Could not refresh the overview: ${errorMessage(error)}`);
      this.failing = true;
    }
  }

  renderStats(stats, types) {
    const byStatus = stats.by_status ?? {};
    let total = 0;
    for (const status of STATUSES) {
      const count = byStatus[status] ?? 0;
      total += count;
      const counter = one(this.root, `.counter[data-status="${status}"]`);
      one(counter, ".counter-value").textContent = formatCount(count);
      counter.setAttribute(
        "aria-label",
        `${formatCount(count)} ${counter.querySelector(".counter-label").textContent.toLowerCase()}`,
      );
    }
    byId("overview-empty").hidden = total > 0;
    if (total === 0) this.renderFirstTasks(types);
    this.throughput = stats.throughput ?? [];
    this.drawChart();
    this.renderQueues(stats, types);
  }

  /** Before anything ran, a way into the form for each type the catalog holds. */
  renderFirstTasks(types) {
    byId("overview-empty-types").replaceChildren(
      ...types.map((type, i) =>
        h("a", { class: i === 0 ? "button primary" : "button", href: submitHash(type.name) }, typeLabel(type.name)),
      ),
    );
  }

  drawChart() {
    const { succeeded, failed, peak } = summarize(this.throughput);
    const text = `Last hour: ${formatCount(succeeded)} succeeded, ${formatCount(failed)} failed; busiest minute ${formatCount(peak)}.`;
    byId("throughput-summary").textContent = text;
    drawThroughput(this.chart, this.throughput, text);
  }

  /** A row per type of the catalog, and of any type tasks exist of that it does not hold. */
  renderQueues(stats, catalog) {
    const queues = stats.queues ?? {};
    const byType = stats.by_type ?? {};
    const names = catalog.map((type) => type.name);
    const types = [...new Set([...names, ...Object.keys(queues), ...Object.keys(byType)])];
    byId("queues-rows").replaceChildren(
      ...types.map((type) =>
        h(
          "tr",
          { dataset: { taskType: type, testid: "queue-row" } },
          h("th", { scope: "row" }, typeLabel(type)),
          numberCell("Waiting", queues[type]?.pending),
          numberCell("In flight", queues[type]?.in_flight),
          numberCell("Succeeded", byType[type]?.SUCCESS),
          numberCell("Failed", byType[type]?.FAILED),
        ),
      ),
    );
  }

  renderWorkers(workers) {
    const now = Date.now();
    byId("workers-rows").replaceChildren(...workers.map((worker) => workerRow(worker, now)));
    byId("workers-empty").hidden = workers.length > 0;
    one(this.root, '[data-testid="workers-table"]').hidden = workers.length === 0;
  }
}
