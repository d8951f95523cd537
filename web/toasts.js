// Messages in the corner of the screen. Errors carry role=alert and stay until dismissed, so a
// failure is never only in the console; notices are polite and leave by themselves.

import { byId, h } from "./dom.js";

const NOTICE_MS = 4000;
const MAX_TOASTS = 4;

function container() {
  return byId("toasts");
}

function show(kind, message, { action } = {}) {
  const box = container();
  const toast = h(
    "div",
    {
      class: `toast ${kind}`,
      role: kind === "error" ? "alert" : "status",
      dataset: { testid: kind === "error" ? "toast-error" : "toast" },
    },
    h("p", { class: "toast-text" }, message),
  );
  if (action) toast.append(h("a", { class: "toast-action", href: action.href }, action.label));
  toast.append(
    h(
      "button",
      { type: "button", class: "toast-close", "aria-label": "Dismiss", onclick: () => toast.remove() },
      "×",
    ),
  );
  box.append(toast);
  while (box.children.length > MAX_TOASTS) box.firstElementChild.remove();
  if (kind !== "error") setTimeout(() => toast.remove(), NOTICE_MS);
  return toast;
}

export function showError(message, options) {
  return show("error", message, options);
}

/** Take down every error shown so far: the page has started over (a new API key). */
export function dismissErrors() {
  for (const toast of container().querySelectorAll(".toast.error")) toast.remove();
}

export function showNotice(message, options) {
  return show("notice", message, options);
}

/** The message to show for anything thrown. */
export function errorMessage(error) {
  if (error instanceof Error) return error.message || error.name;
  return String(error);
}
