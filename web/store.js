// The newest known version of each task. Page fetches and stream events both write here; a
// version whose log sequence is older than the one held is dropped, so it does not matter
// which of a fetch and an event arrives first. Views are told once per animation frame which
// tasks changed, so a burst of progress events costs one render.

const CAPACITY = 5000;

export class TaskStore {
  constructor() {
    this.tasks = new Map();
    this.listeners = new Set();
    this.changed = new Set();
    this.flushScheduled = false;
  }

  get(id) {
    return this.tasks.get(id);
  }

  /** Keep task unless a newer version is held; returns the version now held. */
  put(task) {
    const held = this.tasks.get(task.id);
    if (held && (held.seq ?? 0) > (task.seq ?? 0)) return held;
    // Re-inserting moves the task to the end of the Map's order, which is what eviction uses.
    this.tasks.delete(task.id);
    this.tasks.set(task.id, task);
    this.evict();
    this.changed.add(task.id);
    this.scheduleFlush();
    return task;
  }

  /** Call listener(changedIds: Set) after each batch of changes; returns the unsubscribe. */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  evict() {
    while (this.tasks.size > CAPACITY) {
      this.tasks.delete(this.tasks.keys().next().value);
    }
  }

  scheduleFlush() {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    requestAnimationFrame(() => this.flush());
  }

  flush() {
    this.flushScheduled = false;
    const changed = this.changed;
    this.changed = new Set();
    for (const listener of this.listeners) listener(changed);
  }
}
