// Who the page is to the API. On a server with API keys the page signs in once (POST
// /api/session with the key typed into the dialog) and from then on holds only an HttpOnly
// session cookie it cannot read; the key itself is kept nowhere, and never goes into a URL, so
// EventSource, download links and thumbnails carry the cookie like any same-origin request.
//
// Commands echo the session's CSRF token (X-CSRF-Token), which the API hands to the page only,
// and say they come from the UI (X-Taskbus-Via) for the audit trail. The session's role decides
// which controls the page shows (applyRole).

export const UNAUTHORIZED_EVENT = "taskbus:unauthorized";
export const SESSION_EVENT = "taskbus:session";

const ROLES = ["read", "operate", "admin"];

let current = null; // {name, role, keys_required, csrf_token} once known

/** The session as the API last described it, null before the first answer. */
export function session() {
  return current;
}

function remember(answer) {
  current = answer;
  window.dispatchEvent(new CustomEvent(SESSION_EVENT, { detail: answer }));
  return answer;
}

/** Ask the API who this page is; a 401 opens the key dialog (see key-dialog.js). */
export async function loadSession() {
  const response = await fetch("/api/session", { headers: { Accept: "application/json" } });
  if (response.status === 401) {
    reportUnauthorized();
    return null;
  }
  if (!response.ok) return null;
  return remember(await response.json());
}

/** Exchange the key for a session cookie; false when the API refused the key. */
export async function signIn(key) {
  const response = await fetch("/api/session", {
    method: "POST",
    headers: { Accept: "application/json", "Content-Type": "application/json" },
    body: JSON.stringify({ key }),
  });
  if (!response.ok) return false;
  remember(await response.json());
  return true;
}

/** Headers for a request the page sends with fetch or XMLHttpRequest. */
export function authHeaders(method) {
  if (method === "GET" || method === "HEAD") return {};
  const headers = { "X-Taskbus-Via": "ui" };
  if (current?.csrf_token) headers["X-CSRF-Token"] = current.csrf_token;
  return headers;
}

/** Whether the session's role reaches ``role`` (read < operate < admin). */
export function allows(role) {
  if (!current) return false;
  return ROLES.indexOf(current.role) >= ROLES.indexOf(role);
}

/**
 * Show only what the session may do: elements with data-needs-role are hidden below that role,
 * elements with data-lacks-role shown only below it.
 */
export function applyRole(root = document) {
  for (const el of root.querySelectorAll("[data-needs-role]")) el.hidden = !allows(el.dataset.needsRole);
  for (const el of root.querySelectorAll("[data-lacks-role]")) el.hidden = allows(el.dataset.lacksRole);
}

/** The API refused the request for want of a (right) credential: let the page ask for a key. */
export function reportUnauthorized() {
  window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
}
