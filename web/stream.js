// The live feed: one EventSource on /api/stream for the whole page.
//
// When the connection drops, EventSource reconnects by itself and sends Last-Event-ID, so the
// server replays what was missed. Only when the browser gives up (the server answered with an
// error status, the EventSource is CLOSED) is a new one opened; that one starts without a
// position, so the views are asked to reload what they show. They are asked the same on the
// first open, which closes the gap between a view's first fetch and the stream starting.

import { withKey } from "./credentials.js";

const STREAM_URL = "/api/stream";
const MAX_BACKOFF_MS = 15000;

const LABELS = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
};

export class LiveStream {
  /**
   * onTask(task): a task changed. onResync(): what was on screen may be stale, reload it.
   * indicator: the element that shows the connection state.
   */
  constructor({ onTask, onResync, indicator }) {
    this.onTask = onTask;
    this.onResync = onResync;
    this.indicator = indicator;
    this.source = null;
    this.backoff = 1000;
    this.needsResync = true;
    this.retryTimer = null;
  }

  start() {
    this.open();
    window.addEventListener("pagehide", () => this.stop());
    // A page restored from the back/forward cache comes back with the stream closed.
    window.addEventListener("pageshow", (event) => {
      if (!event.persisted) return;
      this.needsResync = true;
      this.open();
    });
  }

  stop() {
    clearTimeout(this.retryTimer);
    this.source?.close();
    this.source = null;
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
    const source = new EventSource(withKey(STREAM_URL));
    source.addEventListener("open", () => this.handleOpen());
    source.addEventListener("error", () => this.handleError(source));
    source.addEventListener("task", (event) => this.handleTask(event));
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
    let task;
    try {
      task = JSON.parse(event.data);
    } catch {
      console.warn("taskbus: ignored a stream event that is not JSON", event.lastEventId);
      return;
    }
    if (event.lastEventId) this.indicator.dataset.lastEventId = event.lastEventId;
    this.onTask(task);
  }

  setState(state) {
    this.indicator.dataset.state = state;
    this.indicator.querySelector(".connection-label").textContent = LABELS[state];
  }
}
