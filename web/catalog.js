// The catalog of task types the workers announced (GET /api/task-types): what the form offers,
// the type filter lists and the overview counts. One request serves every view; a view that
// shows how many workers serve a type asks for a fresh copy.

import { listTaskTypes } from "./api.js";
import { typeLabel } from "./format.js";

let pending = null;

/** The catalog's entries ordered by label; fresh: ask the API again rather than reuse the last answer. */
export function taskTypes({ fresh = false } = {}) {
  if (fresh || pending === null) {
    const request = listTaskTypes().then((answer) =>
      [...answer.items].sort((a, b) => typeLabel(a.name).localeCompare(typeLabel(b.name))),
    );
    // A refused or failed request is not remembered: the next view to ask tries again.
    request.catch(() => {
      if (pending === request) pending = null;
    });
    pending = request;
  }
  return pending;
}
