// Hash routes, so that every view has a URL that can be shared and the API serves one page:
//   #/                         overview
//   #/tasks?status=&task_type=&q=   task list
//   #/tasks/<id>               task detail
//   #/submit?type=<task_type>  new task form

/** The route of a location hash: {view, params: URLSearchParams, id?}. */
export function parseRoute(hash) {
  const raw = hash.replace(/^#/, "");
  const [path, search = ""] = raw.split("?", 2);
  const parts = path.split("/").filter(Boolean);
  const params = new URLSearchParams(search);
  if (parts.length === 0) return { view: "overview", params };
  if (parts[0] === "tasks" && parts.length === 1) return { view: "tasks", params };
  if (parts[0] === "tasks" && parts.length === 2) {
    return { view: "detail", params, id: decodeURIComponent(parts[1]) };
  }
  if (parts[0] === "submit" && parts.length === 1) return { view: "submit", params };
  return { view: "notfound", params };
}

/** The hash of the task list with these filters; empty filters are left out. */
export function tasksHash({ status, task_type, q } = {}) {
  const params = new URLSearchParams();
  if (status) params.set("status", status);
  if (task_type) params.set("task_type", task_type);
  if (q) params.set("q", q);
  const search = params.toString();
  return search ? `#/tasks?${search}` : "#/tasks";
}

export function submitHash(taskType) {
  return `#/submit?type=${encodeURIComponent(taskType)}`;
}

export function taskHash(id) {
  return `#/tasks/${encodeURIComponent(id)}`;
}

/** Go to hash; replace keeps the history clean while typing in a filter. */
export function navigate(hash, { replace = false } = {}) {
  if (location.hash === hash) return;
  if (replace) location.replace(hash);
  else location.hash = hash;
}
