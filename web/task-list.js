// The task list: a filtered, keyset-paginated page of tasks kept live by the stream.
//
// A changed task already on screen is updated in place, or dropped when it left the filter (a
// task that finished, under the Running tab). A task not on screen is inserted when it matches
// and falls within the range already loaded; older ones arrive with "Load more".

import { listTasks } from "./api.js";
import { byId, one } from "./dom.js";
import { statusLabel, typeLabel } from "./format.js";
import { navigate, taskHash, tasksHash } from "./router.js";
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

/** Whether task passes the filters; the search mirrors the API's: id prefix or name substring. */
function matches(filters, task) {
  if (filters.status && task.status !== filters.status) return false;
  if (filters.task_type && task.task_type !== filters.task_type) return false;
  const q = filters.q.trim().toLowerCase();
  if (!q) return true;
  return (
    String(task.id).toLowerCase().startsWith(q) ||
    String(task.name ?? "")
      .toLowerCase()
      .includes(q)
  );
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
    this.cursor = null;
    this.generation = 0;
    this.abort = null;
    this.loading = false;
    this.visible = false;
    this.searchTimer = null;
    this.wire();
    store.subscribe((changed) => this.visible && this.applyChanges(changed));
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
    this.syncControls();
    if (!this.visible || changed) this.reload();
    this.visible = true;
  }

  hide() {
    this.visible = false;
    this.abort?.abort();
  }

  resync() {
    if (this.visible) this.reload();
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
    const items = await this.fetchPage(null);
    if (items === null) return;
    this.rows.clear();
    this.tbody.replaceChildren();
    this.appendItems(items);
  }

  async loadMore() {
    if (!this.cursor || this.loading) return;
    const items = await this.fetchPage(this.cursor);
    if (items !== null) this.appendItems(items);
  }

  /** One page of tasks, or null when the request failed or a newer one replaced it. */
  async fetchPage(cursor) {
    this.abort?.abort();
    const abort = new AbortController();
    const generation = ++this.generation;
    this.abort = abort;
    this.setLoading(true);
    try {
      const page = await listTasks({ ...this.filters, limit: PAGE_SIZE, cursor }, abort.signal);
      if (generation !== this.generation) return null;
      this.cursor = page.next_cursor ?? null;
      return page.items.map((task) => this.store.put(task));
    } catch (error) {
      if (error.name !== "AbortError") showError(`Could not load tasks: ${errorMessage(error)}`);
      return null;
    } finally {
      if (generation === this.generation) this.setLoading(false);
    }
  }

  appendItems(items) {
    for (const task of items) {
      const held = this.rows.get(task.id);
      if (held) {
        held.update(task);
        continue;
      }
      const row = new TaskRow(task);
      this.rows.set(task.id, row);
      this.tbody.append(row.el);
    }
    this.renderState();
  }

  applyChanges(changed) {
    for (const id of changed) {
      const task = this.store.get(id);
      if (!task) continue;
      const row = this.rows.get(id);
      if (row && matches(this.filters, task)) row.update(task);
      else if (row) this.removeRow(id, row);
      else if (matches(this.filters, task) && this.withinLoadedRange(task)) this.insertRow(task);
    }
    this.renderState();
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
