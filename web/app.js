// Entry point: builds the views, routes the location hash to one of them and feeds them from the
// one live stream.

import { applyRole, loadSession, SESSION_EVENT } from "./credentials.js";
import { byId } from "./dom.js";
import { refreshTimes } from "./format.js";
import { askForKeyWhenRefused } from "./key-dialog.js";
import { OverviewView } from "./overview.js";
import { parseRoute } from "./router.js";
import { TaskStore } from "./store.js";
import { LiveStream } from "./stream.js";
import { SubmitView } from "./submit-form.js";
import { TaskDetailView } from "./task-detail.js";
import { TaskListView } from "./task-list.js";
import { dismissErrors, errorMessage, showError } from "./toasts.js";

const TICK_MS = 1000;

const TITLES = { overview: "Overview", tasks: "Tasks", submit: "New task" };

function reportUnexpected() {
  window.addEventListener("error", (event) => showError(`Unexpected error: ${event.message}`));
  window.addEventListener("unhandledrejection", (event) => {
    showError(`Unexpected error: ${errorMessage(event.reason)}`);
  });
}

/** Show the session's key name and role (where keys are in use) and only what it may do. */
function showSession(answer) {
  const label = byId("session-role");
  label.hidden = !answer?.keys_required;
  label.textContent = answer ? `${answer.name} · ${answer.role}` : "";
  label.dataset.role = answer?.role ?? "";
  applyRole();
}

function start() {
  reportUnexpected();
  window.addEventListener(SESSION_EVENT, (event) => showSession(event.detail));
  showSession(null);
  const store = new TaskStore();
  const views = {
    overview: new OverviewView({ store }),
    tasks: new TaskListView({ store }),
    submit: new SubmitView({ store }),
    detail: new TaskDetailView({ store }),
  };
  let current = null;

  function switchTo(name) {
    views[current]?.hide();
    for (const section of document.querySelectorAll("main > .view")) {
      section.hidden = section.dataset.view !== name;
    }
    const navName = name === "detail" ? "tasks" : name;
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === navName) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    // Move focus to the new view's heading, as a page load would, but not on the first load.
    if (current !== null) byId(`view-${name}`).querySelector("h1")?.focus({ preventScroll: true });
    window.scrollTo(0, 0);
    current = name;
  }

  function route() {
    const next = parseRoute(location.hash);
    const name = next.view === "notfound" ? "overview" : next.view;
    if (current !== name) switchTo(name);
    if (TITLES[name]) document.title = `${TITLES[name]} · taskbus`;
    views[name].show(next);
  }

  const stream = new LiveStream({
    indicator: byId("connection"),
    onTask: (task) => store.put(task),
    onResync: () => views[current]?.resync(),
  });

  askForKeyWhenRefused(() => {
    dismissErrors();
    if (stream.source) stream.restart();
    else stream.start();
    views[current]?.resync();
  });
  window.addEventListener("hashchange", route);
  route();
  // The stream waits for the session: on a server with keys it would only be refused before.
  loadSession().then((answer) => {
    if (answer) stream.start();
  });
  setInterval(() => refreshTimes(document.body), TICK_MS);
}

start();
