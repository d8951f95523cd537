// The HTTP API, one function per endpoint. Every failure becomes an ApiError whose message is
// fit to show a person: the server's `detail` when it sent one.

import { authHeaders, reportUnauthorized } from "./credentials.js";

class ApiError extends Error {
  /**
   * status: the HTTP status, 0 when the server could not be reached.
   * detail: the `detail` of the error body: a string, or FastAPI's list of validation errors.
   */
  constructor(status, detail, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }

  get isValidation() {
    return this.status === 422 && Array.isArray(this.detail);
  }
}

function describe(status, detail, fallback) {
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) return "Some fields are not valid.";
  if (status === 0) return fallback;
  return `${fallback} (HTTP ${status})`;
}

async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function request(method, path, { body, headers = {}, signal } = {}) {
  const init = { method, headers: { Accept: "application/json", ...authHeaders(method), ...headers }, signal };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, null, `Could not reach the server (${method} ${path}).`);
  }
  const payload = await readJson(response);
  if (response.status === 401) reportUnauthorized();
  if (!response.ok) {
    const detail = payload && typeof payload === "object" ? payload.detail : null;
    throw new ApiError(
      response.status,
      detail,
      describe(response.status, detail, `${method} ${path} failed`),
    );
  }
  return payload;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

const taskPath = (id) => `/api/tasks/${encodeURIComponent(id)}`;

// Commands ask the API to answer once the read model shows their effect (it answers sooner with
// the task as it stood if that takes longer), so the page shows the outcome at once and never
// asks for a just-submitted task the read model does not know yet.
const SETTLE = query({ wait: 5 });

export function listTasks({ status, task_type, q, limit, cursor }, signal) {
  return request("GET", `/api/tasks/${query({ status, task_type, q, limit, cursor })}`, { signal });
}

export function getTask(id, signal) {
  return request("GET", taskPath(id), { signal });
}

/** One page of the task's events after log sequence `after`; `next_cursor` is the next `after`. */
export function taskEvents(id, after, signal) {
  return request("GET", `${taskPath(id)}/events${query({ after })}`, { signal });
}

export function cancelTask(id) {
  return request("DELETE", `${taskPath(id)}${SETTLE}`);
}

export function retryTask(id) {
  return request("POST", `${taskPath(id)}/retry${SETTLE}`);
}

/** Submit a task; the idempotency key makes a resent request return the same task. */
export function submitTask(body, idempotencyKey) {
  return request("POST", `/api/tasks/submit${SETTLE}`, {
    body,
    headers: { "Idempotency-Key": idempotencyKey },
  });
}

export function getStats(signal) {
  return request("GET", "/api/stats", { signal });
}

/** The task types workers announced: {items: [{name, description, parameters_schema, …, workers}]}. */
export function listTaskTypes(signal) {
  return request("GET", "/api/task-types", { signal });
}

export function getWorkers(signal) {
  return request("GET", "/api/workers", { signal });
}

/** A file's URL: same origin, so the session cookie goes with it and no credential is in it. */
export function fileUrl(fileId) {
  return `/api/files/${encodeURIComponent(fileId)}`;
}

/**
 * Upload one file to the object store. XMLHttpRequest rather than fetch because only it reports
 * upload progress, which matters for a large CSV or image. onProgress gets a fraction 0..1;
 * purpose, a task type, has the API check the file is of a content type that type takes.
 */
export function uploadFile(file, { purpose, onProgress = () => {} } = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/files${query({ purpose })}`);
    xhr.setRequestHeader("Accept", "application/json");
    for (const [name, value] of Object.entries(authHeaders("POST"))) xhr.setRequestHeader(name, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      let payload = null;
      try {
        payload = JSON.parse(xhr.responseText);
      } catch {
        payload = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && payload) {
        resolve(payload);
        return;
      }
      if (xhr.status === 401) reportUnauthorized();
      const detail = payload && typeof payload === "object" ? payload.detail : null;
      reject(new ApiError(xhr.status, detail, describe(xhr.status, detail, `Upload of ${file.name} failed`)));
    });
    xhr.addEventListener("error", () => {
      reject(new ApiError(0, null, `Could not upload ${file.name}: the server is unreachable.`));
    });
    const form = new FormData();
    form.append("file", file, file.name);
    xhr.send(form);
  });
}

/** A random UUID; crypto.randomUUID exists only in secure contexts, plain http hosts lack it. */
export function newIdempotencyKey() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
