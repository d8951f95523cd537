// The live feed: an EventSource on /api/stream, one for the whole page and one more for the task
// list while it has filters (the server filters that one, see task-list.js).
//
// When the connection drops, EventSource reconnects by itself and sends Last-Event-ID, so the
// server replays what was missed. Only when the browser gives up (the server answered with an
// error status, the EventSource is CLOSED) is a new one opened; that one starts without a
// position, so the views are asked to reload what they show. They are asked the same on the
// first open, which closes the gap between a view's first fetch and the stream starting.

const STREAM_URL = "/api/stream";
const MAX_BACKOFF_MS = 15000;

const LABELS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
};

/** The stream's URL with the list's filters (status, task_type, q); empty ones are left out. */
function streamPath(filters) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value) search.set(name, value);
  const text = search.toString();
  return text ? `${STREAM_URL}?${text}` : STREAM_URL;
}

export class LiveStream {
  /**
   * filters: those of GET /api/tasks/ (status, task_type, q), none for every change.
   * onTask(task): a task changed (and matches the filters). onLeft(id, seq): a change took the
   * task out of the filters. onResync(): what was on screen may be stale, reload it.
   * indicator: the element that shows the connection state, if any.
   */
  constructor({ filters = {}, onTask, onLeft = () => {}, onResync, indicator = null }) {
    this.path = streamPath(filters);
    this.onTask = onTask;
    this.onLeft = onLeft;
    this.onResync = onResync;
    this.indicator = indicator;
    this.source = null;
    this.backoff = 1000;
    this.needsResync = true;
    this.retryTimer = null;
    this.handlePageHide = () => this.stop();
    // A page restored from the back/forward cache comes back with the stream closed.
    this.handlePageShow = (event) => {
      if (!event.persisted) return;
      this.needsResync = true;
      this.open();
    };
  }

  start() {
    this.open();
    window.addEventListener("pagehide", this.handlePageHide);
    window.addEventListener("pageshow", this.handlePageShow);
  }

  stop() {
    clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = null;
  }

  /** For good: stop, and do not come back with the page either. */
  close() {
    this.stop();
    window.removeEventListener("pagehide", this.handlePageHide);
    window.removeEventListener("pageshow", this.handlePageShow);
  }

  /** The browser gave up on the connection; a new one opens after a pause. */
  get gaveUp() {
    return this.source?.readyState === EventSource.CLOSED;
  }

  /** Start over with a fresh stream, as after a new API key; the views reload what they show. */
  restart() {
    clearTimeout(this.retryTimer);
    this.source?.close();
    this.needsResync = true;
    this.backoff = 1000;
    this.open();
  }

  open() {
    this.setState(this.source ? "reconnecting" : "connecting");
    // Same origin: the session cookie, if any, goes with it; nothing secret is in the URL.
    const source = new EventSource(this.path);
    source.addEventListener("open", () => this.handleOpen());
    source.addEventListener("error", () => this.handleError(source));
    source.addEventListener("task", (event) => this.handleTask(event));
    source.addEventListener("left", (event) => this.handleLeft(event));
    this.source = source;
  }

  handleOpen() {
    this.backoff = 1000;
    this.setState("live");
    if (this.needsResync) {
      this.needsResync = false;
      this.onResync();
    }
  }

  handleError(source) {
    this.setState("reconnecting");
    if (source.readyState !== EventSource.CLOSED) return;
    // The browser gave up: open a fresh stream after a pause that grows with each failure.
    this.needsResync = true;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, MAX_BACKOFF_MS);
  }

  handleTask(event) {
    const task = parse(event);
    if (task === null) return;
    if (event.lastEventId && this.indicator) this.indicator.dataset.lastEventId = event.lastEventId;
    this.onTask(task);
  }

  handleLeft(event) {
    const left = parse(event);
    if (left !== null) this.onLeft(left.id, left.seq);
  }

  setState(state) {
    if (!this.indicator) return;
    this.indicator.dataset.state = state;
    this.indicator.querySelector(".connection-label").textContent = LABELS[state];
  }
}

function parse(event) {
  try {
    return JSON.parse(event.data);
  } catch {
    console.warn("taskbus: ignored a stream event that is not JSON", event.lastEventId);
    return null;
  }
}
