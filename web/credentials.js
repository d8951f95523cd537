// The API key, for a server started with API_KEY. It is asked for when the API first answers
// 401 and kept for this tab only (sessionStorage), so closing the tab forgets it.
//
// fetch and XMLHttpRequest send it as the X-API-Key header. Requests the browser makes by itself
// (EventSource, download links, thumbnails) cannot carry a header and get ?api_key= instead;
// the page's Referrer-Policy keeps such URLs from leaking to other sites.

const STORAGE_KEY = "taskbus.apiKey";
export const UNAUTHORIZED_EVENT = "taskbus:unauthorized";

export function apiKey() {
  try {
    return sessionStorage.getItem(STORAGE_KEY) ?? "";
  } catch {
    return ""; // storage disabled: the page works without a key, and asks again on every 401
  }
}

export function setApiKey(key) {
  try {
    sessionStorage.setItem(STORAGE_KEY, key);
  } catch {
    // Disabled storage keeps the key nowhere; the next 401 asks again.
  }
}

/** Headers for fetch or XMLHttpRequest: the key when there is one. */
export function keyHeaders() {
  const key = apiKey();
  return key ? { "X-API-Key": key } : {};
}

/** ``path`` (same origin) with the key as ``?api_key=`` when there is one. */
export function withKey(path) {
  const key = apiKey();
  if (!key) return path;
  const url = new URL(path, location.origin);
  url.searchParams.set("api_key", key);
  return `${url.pathname}${url.search}`;
}

/** The API refused the request for want of a (right) key: let the page ask for one. */
export function reportUnauthorized() {
  window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
}
