// The task list: a filtered, keyset-paginated page of tasks kept live by the stream.
//
// Which tasks belong under the filters is the server's call, never the page's: it answers a page
// of GET /api/tasks/, and for the changes after it the stream says. Without filters every change
// belongs, and the page's one stream (through the store) brings them. With filters the list opens
// a stream of its own with the same filters, which sends the changes of tasks that match them
// ("task") and of those that no longer do ("left", as a task that finished under the Running tab).
//
// A changed task already on screen is updated in place, or dropped when it left. A task not on
// screen is inserted when it belongs and falls within the range already loaded; older ones arrive
// with "Load more".

import { listTasks } from "./api.js";
import { taskTypes } from "./catalog.js";
import { byId, h, one } from "./dom.js";
import { statusLabel, typeLabel } from "./format.js";
import { navigate, taskHash, tasksHash } from "./router.js";
import { LiveStream } from "./stream.js";
import { TaskRow } from "./task-rows.js";
import { errorMessage, showError } from "./toasts.js";

const PAGE_SIZE = 50;
const SEARCH_DELAY_MS = 250;

function filtersOf(params) {
  return {
    status: params.get("status") ?? "",
    task_type: params.get("task_type") ?? "",
    q: params.get("q") ?? "",
  };
}

function sameFilters(a, b) {
  return a.status === b.status && a.task_type === b.task_type && a.q === b.q;
}

function hasFilters(filters) {
  return Boolean(filters.status || filters.task_type || filters.q);
}

export class TaskListView {
  constructor({ store }) {
    this.store = store;
    this.root = byId("view-tasks");
    this.tbody = byId("task-rows");
    this.statusLine = byId("tasks-status");
    this.empty = byId("tasks-empty");
    this.loadMoreButton = byId("load-more");
    this.typeSelect = byId("filter-type");
    this.search = byId("filter-q");
    this.filters = { status: "", task_type: "", q: "" };
    this.rows = new Map();
    // The filters' own stream, while there are filters and the list is shown.
    this.live = null;
    // What the server said about tasks while a page was being fetched, by id: {seq, task}, task
    // null when it left. Newer than the page, so applied again on top of it.
    this.saidMeanwhile = null;
    this.cursor = null;
    this.generation = 0;
    this.abort = null;
    this.loading = false;
    this.visible = false;
    this.searchTimer = null;
    this.wire();
    store.subscribe((changed) => this.visible && !this.live && this.applyChanges(changed));
  }

  wire() {
    byId("task-filters").addEventListener("submit", (event) => event.preventDefault());
    this.typeSelect.addEventListener("change", () => {
      navigate(tasksHash({ ...this.filters, task_type: this.typeSelect.value }));
    });
    this.search.addEventListener("input", () => {
      clearTimeout(this.searchTimer);
      this.searchTimer = setTimeout(() => {
        navigate(tasksHash({ ...this.filters, q: this.search.value.trim() }), { replace: true });
      }, SEARCH_DELAY_MS);
    });
    this.loadMoreButton.addEventListener("click", () => this.loadMore());
    // A click anywhere on a row opens the task; the link in the first cell does it for keyboards.
    this.tbody.addEventListener("click", (event) => {
      if (event.target.closest("a, button") || window.getSelection()?.toString()) return;
      const row = event.target.closest("tr[data-task-id]");
      if (row) navigate(taskHash(row.dataset.taskId));
    });
  }

  show(route) {
    const filters = filtersOf(route.params);
    const changed = !sameFilters(filters, this.filters);
    this.filters = filters;
    this.fillTypes();
    this.syncControls();
    if (!this.visible || changed) {
      this.follow();
      this.reload();
    }
    this.visible = true;
  }

  hide() {
    this.visible = false;
    this.abort?.abort();
    this.live?.close();
    this.live = null;
  }

  resync() {
    if (!this.visible) return;
    this.fillTypes();
    // As after a new API key: a stream the server refused would wait out its backoff first.
    if (this.live?.gaveUp) this.live.restart();
    this.reload();
  }

  /**
   * The type filter's options: the catalog's types, and the one filtered by even when the
   * catalog does not hold it (a link from before), so the select shows what the list is.
   */
  async fillTypes() {
    let names = [];
    try {
      names = (await taskTypes()).map((type) => type.name);
    } catch (error) {
      showError(`Could not load the task types: ${errorMessage(error)}`);
    }
    const wanted = this.filters.task_type;
    if (wanted && !names.includes(wanted)) names.push(wanted);
    const key = names.join(" ");
    if (this.typeSelect.dataset.types !== key) {
      this.typeSelect.dataset.types = key;
      this.typeSelect.replaceChildren(
        h("option", { value: "" }, "All types"),
        ...names.map((name) => h("option", { value: name }, typeLabel(name))),
      );
    }
    this.typeSelect.value = this.filters.task_type;
  }

  /** With filters, open their stream (replacing any other); without, the page's stream does. */
  follow() {
    this.live?.close();
    this.live = null;
    if (!hasFilters(this.filters)) return;
    this.live = new LiveStream({
      filters: this.filters,
      onTask: (task) => this.said(task.id, task.seq, task),
      onLeft: (id, seq) => this.said(id, seq, null),
      onResync: () => this.reload(),
    });
    this.live.start();
  }

  syncControls() {
    for (const tab of this.root.querySelectorAll(".tabs a")) {
      if (tab.dataset.status === this.filters.status) tab.setAttribute("aria-current", "page");
      else tab.removeAttribute("aria-current");
      tab.href = tasksHash({ ...this.filters, status: tab.dataset.status });
    }
    this.typeSelect.value = this.filters.task_type;
    // Never rewrite the box being typed in: the hash lags behind it by the search delay.
    if (document.activeElement !== this.search) this.search.value = this.filters.q;
  }

  async reload() {
    await this.fetchPage(null);
  }

  async loadMore() {
    if (this.cursor && !this.loading) await this.fetchPage(this.cursor);
  }

  /** Show a page of tasks: the first one replaces the rows, a later one goes below them. */
  async fetchPage(cursor) {
    this.abort?.abort();
    const abort = new AbortController();
    const generation = ++this.generation;
    this.abort = abort;
    this.saidMeanwhile = new Map();
    this.setLoading(true);
    try {
      const page = await listTasks({ ...this.filters, limit: PAGE_SIZE, cursor }, abort.signal);
      if (generation !== this.generation) return;
      this.cursor = page.next_cursor ?? null;
      if (cursor === null) {
        this.rows.clear();
        this.tbody.replaceChildren();
      }
      this.appendItems(page.items);
    } catch (error) {
      if (error.name !== "AbortError") showError(`Could not load tasks: ${errorMessage(error)}`);
    } finally {
      if (generation === this.generation) {
        this.saidMeanwhile = null;
        this.setLoading(false);
      }
    }
  }

  appendItems(items) {
    for (const fetched of items) {
      const newest = this.store.put(fetched);
      // Under filters the server vouched for the version it sent; a newer one the page's stream
      // brought may not match them (the filters' stream says so, or has said so meanwhile).
      const task = this.live ? fetched : newest;
      const held = this.rows.get(task.id);
      if (held) {
        if (task.seq > held.task.seq) held.update(task);
        continue;
      }
      const row = new TaskRow(task);
      this.rows.set(task.id, row);
      this.tbody.append(row.el);
    }
    const meanwhile = this.saidMeanwhile;
    this.saidMeanwhile = null;
    for (const [id, { seq, task }] of meanwhile ?? []) this.apply(id, seq, task);
    this.renderState();
  }

  /** Without filters every task belongs: the store's newest version of each change is shown. */
  applyChanges(changed) {
    for (const id of changed) {
      const task = this.store.get(id);
      if (task) this.said(id, task.seq, task, { render: false });
    }
    this.renderState();
  }

  /** The server's word on a version of a task: it belongs (task), or it no longer does (null). */
  said(id, seq, task, { render = true } = {}) {
    const meanwhile = this.saidMeanwhile;
    if (meanwhile && !(meanwhile.get(id)?.seq >= seq)) meanwhile.set(id, { seq, task });
    this.apply(id, seq, task);
    if (render) this.renderState();
  }

  apply(id, seq, task) {
    const row = this.rows.get(id);
    if (task === null) {
      if (row && row.task.seq < seq) this.removeRow(id, row);
    } else if (row) {
      if (seq > row.task.seq) row.update(task);
    } else if (this.withinLoadedRange(task)) {
      this.insertRow(task);
    }
  }

  /** A task older than the last loaded row belongs to a page not fetched yet. */
  withinLoadedRange(task) {
    if (this.cursor === null) return true;
    const last = this.tbody.lastElementChild;
    const oldest = last ? this.rows.get(last.dataset.taskId) : null;
    return !oldest || (Date.parse(task.created_at) || 0) >= oldest.createdAt;
  }

  insertRow(task) {
    const row = new TaskRow(task);
    const created = row.createdAt;
    let before = null;
    for (const el of this.tbody.children) {
      if (this.rows.get(el.dataset.taskId).createdAt < created) {
        before = el;
        break;
      }
    }
    this.rows.set(task.id, row);
    this.tbody.insertBefore(row.el, before);
  }

  removeRow(id, row) {
    this.rows.delete(id);
    row.el.remove();
  }

  setLoading(loading) {
    this.loading = loading;
    this.tbody.setAttribute("aria-busy", String(loading));
    this.loadMoreButton.disabled = loading;
    this.renderState();
  }

  renderState() {
    const count = this.rows.size;
    this.loadMoreButton.hidden = !this.cursor;
    this.empty.hidden = this.loading || count > 0;
    this.root.querySelector(".task-table").hidden = count === 0 && !this.loading;
    if (this.loading && count === 0) this.statusLine.textContent = "Loading tasks…";
    else if (count === 0) this.statusLine.textContent = "";
    else
      this.statusLine.textContent = `Showing ${count} task${count === 1 ? "" : "s"}${this.cursor ? ", more below" : ""}.`;
    if (!this.empty.hidden) this.renderEmpty();
  }

  renderEmpty() {
    const { status, task_type, q } = this.filters;
    const filtered = Boolean(status || task_type || q);
    const title = one(this.empty, ".empty-title");
    const text = one(this.empty, ".empty-text");
    const action = one(this.empty, ".empty-action");
    if (!filtered) {
      title.textContent = "No tasks yet";
      text.textContent =
        "Submit a task and it appears here the moment the server accepts it, then moves through Pending, Running and Success live.";
      action.textContent = "Submit a first task";
      action.href = "#/submit";
      return;
    }
    const parts = [status && statusLabel(status).toLowerCase(), task_type && typeLabel(task_type)].filter(
      Boolean,
    );
    title.textContent = "No tasks match";
    text.textContent = `No ${parts.join(" ")} task${q ? ` matches “${q}”` : " is here"}. Matching tasks appear here as soon as they exist.`;
    action.textContent = "Show all tasks";
    action.href = "#/tasks";
  }
}
