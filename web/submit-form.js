// The new-task form: a picker of the task types in the catalog and, for the chosen one, its
// parameters rendered from its JSON Schema (schema-form.js), then the task's own options. The
// API validates, and its 422 messages are shown next to the fields they name.

import { newIdempotencyKey, submitTask } from "./api.js";
import { taskTypes } from "./catalog.js";
import { byId, h, one } from "./dom.js";
import { validationErrors } from "./form-errors.js";
import { formatNumber, taskTitle, typeLabel } from "./format.js";
import { navigate, submitHash, taskHash } from "./router.js";
import { SchemaForm } from "./schema-form.js";
import { errorMessage, showError, showNotice } from "./toasts.js";

function isActive(el) {
  return !el.matches(":disabled") && !el.closest("[hidden]");
}

function workersText(count) {
  if (count === 0) return "No worker running: its tasks wait until one starts.";
  return `${count} worker${count === 1 ? "" : "s"} running`;
}

/** A type's radio, named by its label and described by its docstring and who serves it. */
function typeOption(type) {
  const textId = `type-text-${type.name}`;
  const workersId = `type-workers-${type.name}`;
  return h(
    "label",
    { class: "type-option", dataset: { workers: type.workers } },
    h("input", {
      type: "radio",
      name: "task_type",
      value: type.name,
      "aria-label": typeLabel(type.name),
      "aria-describedby": type.description ? `${textId} ${workersId}` : workersId,
      dataset: { testid: `task-type-${type.name}` },
    }),
    h("span", { class: "type-name" }, typeLabel(type.name)),
    // The first paragraph of the handler's docstring: the rest is for its readers.
    type.description ? h("span", { class: "type-text", id: textId }, type.description.split(/\n\s*\n/)[0]) : null,
    h(
      "span",
      { class: "type-workers", id: workersId, dataset: { testid: "type-workers", none: type.workers === 0 ? "true" : null } },
      workersText(type.workers),
    ),
  );
}

export class SubmitView {
  constructor({ store }) {
    this.store = store;
    this.form = byId("submit-form");
    this.button = one(this.form, 'button[type="submit"]');
    this.state = byId("submit-state");
    this.formError = byId("form-error");
    this.typeOptions = byId("type-options");
    this.pickerStatus = byId("type-picker-status");
    this.params = byId("params");
    this.options = one(this.form, "fieldset.options");
    // The catalog's entries by name, and what the picker shows of them (to redraw only on change).
    this.types = null;
    this.pickerKey = null;
    // The chosen type's parameters, and the type asked for by the route.
    this.schemaForm = null;
    this.wanted = null;
    this.idempotencyKey = newIdempotencyKey();
    this.busy = false;
    this.visible = false;
    this.wire();
  }

  wire() {
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    // Any edit makes it a different request, which must not be mistaken for a resend.
    this.form.addEventListener("input", () => this.keyChanged());
    this.form.addEventListener("change", (event) => {
      this.keyChanged();
      if (event.target.name === "task_type") this.chooseType(event.target.value);
    });
    // A file dropped next to a drop zone would otherwise replace the page with the file.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());
  }

  show(route) {
    this.wanted = route.params.get("type");
    // Fresh each time the form is opened: the picker says which types have a worker running.
    if (!this.visible || !this.types) this.load({ fresh: true });
    else this.showType(this.typeToShow([...this.types.values()]));
    this.visible = true;
  }

  hide() {
    this.visible = false;
  }

  /** After a sign-in or a new stream: load the catalog if it could not be loaded before. */
  resync() {
    if (!this.types) this.load({ fresh: false });
  }

  async load({ fresh }) {
    try {
      const items = await taskTypes({ fresh });
      this.types = new Map(items.map((type) => [type.name, type]));
      this.renderPicker(items);
      this.showType(this.typeToShow(items));
    } catch (error) {
      this.pickerStatus.textContent = `Could not load the task types: ${errorMessage(error)}`;
      this.pickerStatus.hidden = false;
    }
  }

  /** The route's type, else the one on screen, else the first a worker serves, else the first. */
  typeToShow(items) {
    if (this.wanted && this.types.has(this.wanted)) return this.wanted;
    const current = this.schemaForm?.type.name;
    if (current && this.types.has(current)) return current;
    return (items.find((type) => type.workers > 0) ?? items[0])?.name ?? null;
  }

  renderPicker(items) {
    const key = JSON.stringify(items.map((type) => [type.name, type.description, type.workers]));
    this.pickerStatus.hidden = items.length > 0;
    this.pickerStatus.textContent = items.length
      ? ""
      : "No task type is known yet: start a worker (taskbus worker MODULE:APP) and it announces its types.";
    this.button.disabled = items.length === 0;
    if (key === this.pickerKey) return;
    this.pickerKey = key;
    this.typeOptions.replaceChildren(...items.map(typeOption));
  }

  keyChanged() {
    this.idempotencyKey = newIdempotencyKey();
  }

  chooseType(name) {
    this.wanted = name;
    this.showType(name);
    navigate(submitHash(name), { replace: true });
  }

  /** Show name's parameters; the same version of the type already on screen keeps what was typed. */
  showType(name) {
    const type = this.types.get(name);
    for (const radio of this.typeOptions.querySelectorAll('input[name="task_type"]')) {
      radio.checked = radio.value === name;
    }
    if (!type) {
      this.schemaForm = null;
      this.params.replaceChildren();
      return;
    }
    const shown = this.schemaForm?.type;
    if (shown?.name === name && shown.version === type.version) return;
    this.schemaForm = new SchemaForm(type, { onChange: () => this.keyChanged() });
    this.params.replaceChildren(this.schemaForm.element);
    // The type's own defaults, which a task may override.
    byId("task-max_attempts").placeholder = String(type.max_attempts);
    byId("task-timeout_s").placeholder = type.timeout_s === null ? "none" : formatNumber(type.timeout_s);
    this.clearErrors();
  }

  /** The task's own fields (name, max attempts, timeout); empty ones are left out. */
  collectOptions(errors) {
    const values = {};
    for (const el of this.options.querySelectorAll("[data-kind]")) {
      if (el.dataset.kind !== "text" && el.validity.badInput) errors.set(el.name, ["Enter a number."]);
      if (el.value === "") continue;
      values[el.name] = el.dataset.kind === "text" ? el.value : Number(el.value);
    }
    return values;
  }

  async submit() {
    if (this.busy || !this.schemaForm) return;
    this.clearErrors();
    const parameterErrors = new Map();
    const taskErrors = new Map();
    this.setBusy(true);
    try {
      if (this.schemaForm.hasFiles) this.state.textContent = "Waiting for uploads…";
      const parameters = await this.schemaForm.values(parameterErrors);
      const options = this.collectOptions(taskErrors);
      if (parameterErrors.size || taskErrors.size) {
        this.showErrors({ parameters: parameterErrors, task: taskErrors, general: [] });
        return;
      }
      const body = { task_type: this.schemaForm.type.name, parameters, ...options };
      const task = this.store.put(await submitTask(body, this.idempotencyKey));
      this.keyChanged();
      // A name labels one task; the other fields are kept for submitting a similar one.
      byId("task-name").value = "";
      showNotice(`Submitted ${taskTitle(task)}.`, { action: { href: taskHash(task.id), label: "Open" } });
      navigate(taskHash(task.id));
    } catch (error) {
      this.showSubmitError(error);
    } finally {
      this.setBusy(false);
    }
  }

  showSubmitError(error) {
    if (error.isValidation) {
      const { parameters, task, general } = validationErrors(error.detail);
      const messages = new Map();
      for (const [field, list] of parameters)
        messages.set(
          field,
          list.map((item) => this.schemaForm.itemMessage(field, item)),
        );
      const taskMessages = new Map([...task].map(([field, list]) => [field, list.map((item) => item.message)]));
      this.showErrors({ parameters: messages, task: taskMessages, general });
    } else if (error.status >= 400 && error.status < 500) {
      this.showErrors({ parameters: new Map(), task: new Map(), general: [errorMessage(error)] });
    } else {
      showError(`The task was not submitted: ${errorMessage(error)}`);
    }
  }

  /** Put each message next to its field; messages for fields not on screen go to the top. */
  showErrors({ parameters, task, general }) {
    const unplaced = [...general];
    let first = null;
    for (const [field, messages] of parameters) {
      const placed = this.schemaForm.place(field, messages);
      if (placed) first ??= placed;
      else unplaced.push(...messages.map((message) => `${field}: ${message}`));
    }
    for (const [field, messages] of task) {
      const placed = this.placeTaskError(field, messages);
      if (placed) first ??= placed;
      else unplaced.push(...messages.map((message) => `${field}: ${message}`));
    }
    if (unplaced.length) {
      this.formError.replaceChildren(
        h("p", {}, "The task was not submitted:"),
        h(
          "ul",
          {},
          unplaced.map((message) => h("li", {}, message)),
        ),
      );
      this.formError.hidden = false;
      first = this.formError;
    }
    this.state.textContent = "";
    first?.scrollIntoView({ block: "center" });
    if (first && first !== this.formError) first.focus();
  }

  /** Show messages under one of the task's own fields (or the type picker); returns its input, or null. */
  placeTaskError(field, messages) {
    const slot = [...this.form.querySelectorAll(`[data-error-for="${CSS.escape(field)}"]`)].find(
      (el) => isActive(el) && !this.params.contains(el),
    );
    if (!slot) return null;
    slot.textContent = messages.join("\n");
    const scope = slot.closest(".field, fieldset");
    const input = scope.querySelector(`[name="${CSS.escape(field)}"]`) ?? slot;
    input.setAttribute("aria-invalid", "true");
    return input;
  }

  clearErrors() {
    this.formError.hidden = true;
    this.formError.replaceChildren();
    for (const slot of this.form.querySelectorAll("[data-error-for]")) slot.textContent = "";
    for (const input of this.form.querySelectorAll('[aria-invalid="true"]')) input.removeAttribute("aria-invalid");
  }

  setBusy(busy) {
    this.busy = busy;
    this.button.disabled = busy;
    this.button.textContent = busy ? "Submitting…" : "Submit task";
    this.state.textContent = "";
  }
}
