// The new-task form: one fieldset per task type, each with a choice of input source (uploaded
// files or synthetic data). Inputs are named after the API's parameters; the API validates, and
// its 422 messages are shown next to the fields they name.

import { newIdempotencyKey, submitTask } from "./api.js";
import { byId, h, one } from "./dom.js";
import { validationErrors } from "./form-errors.js";
import { TASK_TYPES, taskTitle } from "./format.js";
import { navigate, taskHash } from "./router.js";
import { errorMessage, showError, showNotice } from "./toasts.js";
import { UploadField } from "./uploads.js";

// "Name <address>", the name optionally quoted.
const NAMED_RECIPIENT = /^"?(.*?)"?\s*<([^<>]*)>$/;

function parseRecipients(text) {
  const recipients = [];
  const lines = [];
  text.split(/\r?\n/).forEach((raw, number) => {
    const line = raw.trim();
    if (!line) return;
    const named = NAMED_RECIPIENT.exec(line);
    recipients.push(named ? { email: named[2].trim(), name: named[1].trim() } : { email: line });
    lines.push(number + 1);
  });
  return { recipients, lines };
}

function isActive(el) {
  return !el.matches(":disabled") && !el.closest("[hidden]");
}

export class SubmitView {
  constructor({ store }) {
    this.store = store;
    this.form = byId("submit-form");
    this.button = one(this.form, 'button[type="submit"]');
    this.state = byId("submit-state");
    this.formError = byId("form-error");
    this.recipientLines = [];
    this.idempotencyKey = newIdempotencyKey();
    this.busy = false;
    this.uploads = {
      file_id: new UploadField({
        zone: one(this.form, '[data-testid="csv-dropzone"]'),
        input: byId("csv-file"),
        list: one(this.form, '[data-upload-list="csv"]'),
        multiple: false,
        accepts: () => true,
        onChange: () => this.keyChanged(),
      }),
      file_ids: new UploadField({
        zone: one(this.form, '[data-testid="image-dropzone"]'),
        input: byId("image-files"),
        list: one(this.form, '[data-upload-list="images"]'),
        multiple: true,
        accepts: (file) => file.type.startsWith("image/"),
        onChange: () => this.keyChanged(),
      }),
    };
    this.wire();
    this.showType(this.selectedType());
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
      if (event.target.name?.endsWith("_source")) this.showSource(event.target.closest("fieldset"));
    });
    // A file dropped next to a drop zone would otherwise replace the page with the file.
    window.addEventListener("dragover", (event) => event.preventDefault());
    window.addEventListener("drop", (event) => event.preventDefault());
  }

  show(route) {
    const type = route.params.get("type");
    if (TASK_TYPES.includes(type) && type !== this.selectedType()) {
      one(this.form, `input[name="task_type"][value="${type}"]`).checked = true;
      this.showType(type);
    }
  }

  hide() {}

  resync() {}

  keyChanged() {
    this.idempotencyKey = newIdempotencyKey();
  }

  selectedType() {
    return one(this.form, 'input[name="task_type"]:checked').value;
  }

  chooseType(type) {
    this.showType(type);
    navigate(`#/submit?type=${type}`, { replace: true });
  }

  showType(type) {
    for (const fieldset of this.form.querySelectorAll("fieldset.params")) {
      const active = fieldset.dataset.taskType === type;
      fieldset.hidden = !active;
      fieldset.disabled = !active;
      if (active) this.showSource(fieldset);
    }
    this.clearErrors();
  }

  showSource(fieldset) {
    const source = fieldset.querySelector('input[name$="_source"]:checked')?.value;
    for (const section of fieldset.querySelectorAll("[data-source]")) {
      section.hidden = section.dataset.source !== source;
    }
  }

  activeFieldset() {
    return one(this.form, `fieldset.params[data-task-type="${this.selectedType()}"]`);
  }

  /** The values of the active named inputs of root; empty optional fields are left out. */
  collect(root, errors) {
    const values = {};
    for (const el of root.querySelectorAll("[data-kind]")) {
      if (!isActive(el)) continue;
      const value = this.readValue(el, errors);
      if (value !== undefined) values[el.name] = value;
    }
    return values;
  }

  readValue(el, errors) {
    switch (el.dataset.kind) {
      case "bool":
        return el.checked;
      case "int":
      case "float":
        if (el.validity.badInput) errors.set(el.name, ["Enter a number."]);
        return el.value === "" ? undefined : Number(el.value);
      case "recipients": {
        const { recipients, lines } = parseRecipients(el.value);
        this.recipientLines = lines;
        if (recipients.length === 0) errors.set(el.name, ["Enter at least one recipient, one per line."]);
        return recipients;
      }
      default:
        return el.value === "" ? undefined : el.value;
    }
  }

  /** Wait for uploads of the chosen source, and say what is missing or failed. */
  async checkUploads(fieldset, parameters, errors) {
    const upload = fieldset.querySelector('[data-source="upload"]:not([hidden])');
    if (!upload) return;
    const field = this.selectedType() === "csv_processing" ? "file_id" : "file_ids";
    const uploads = this.uploads[field];
    this.state.textContent = "Waiting for uploads…";
    await uploads.settled();
    const failed = uploads.errors();
    const ids = uploads.fileIds();
    if (failed.length) errors.set(field, failed);
    else if (ids.length === 0)
      errors.set(field, [field === "file_id" ? "Choose a CSV file." : "Choose at least one image."]);
    else if (field === "file_ids") parameters.file_ids = ids;
    else parameters.file_id = ids[0];
  }

  async submit() {
    if (this.busy) return;
    this.clearErrors();
    const fieldset = this.activeFieldset();
    const errors = new Map();
    this.setBusy(true);
    try {
      const parameters = this.collect(fieldset, errors);
      await this.checkUploads(fieldset, parameters, errors);
      const options = this.collect(one(this.form, "fieldset.options"), errors);
      if (errors.size) {
        this.showErrors(errors, []);
        return;
      }
      const body = { task_type: this.selectedType(), parameters, ...options };
      const task = this.store.put(await submitTask(body, this.idempotencyKey));
      this.keyChanged();
      // A name labels one task; the other fields are kept for submitting a similar one.
      one(this.form, 'input[name="name"]').value = "";
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
      const { fields, general } = validationErrors(error.detail);
      const messages = new Map();
      for (const [field, list] of fields)
        messages.set(
          field,
          list.map((e) => this.itemMessage(field, e)),
        );
      this.showErrors(messages, general);
    } else if (error.status >= 400 && error.status < 500) {
      this.showErrors(new Map(), [errorMessage(error)]);
    } else {
      showError(`The task was not submitted: ${errorMessage(error)}`);
    }
  }

  itemMessage(field, { message, index }) {
    if (index === null) return message;
    if (field === "recipients") return `Line ${this.recipientLines[index] ?? index + 1}: ${message}`;
    return `Item ${index + 1}: ${message}`;
  }

  /** Put each message next to its field; messages for fields not on screen go to the top. */
  showErrors(fields, general) {
    const unplaced = [...general];
    let first = null;
    for (const [field, messages] of fields) {
      const placed = this.placeFieldError(field, messages);
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

  /** Show messages under field's input and mark it invalid; returns the input, or null. */
  placeFieldError(field, messages) {
    const slot = [...this.form.querySelectorAll(`[data-error-for="${CSS.escape(field)}"]`)].find(isActive);
    if (!slot) return null;
    slot.textContent = messages.join("\n");
    const scope = slot.closest(".field, fieldset");
    const input = scope.querySelector(`[name="${CSS.escape(field)}"], input[type="file"]`) ?? slot;
    input.setAttribute("aria-invalid", "true");
    return input;
  }

  clearErrors() {
    this.formError.hidden = true;
    this.formError.replaceChildren();
    for (const slot of this.form.querySelectorAll("[data-error-for]")) slot.textContent = "";
    for (const input of this.form.querySelectorAll('[aria-invalid="true"]'))
      input.removeAttribute("aria-invalid");
  }

  setBusy(busy) {
    this.busy = busy;
    this.button.disabled = busy;
    this.button.textContent = busy ? "Submitting…" : "Submit task";
    this.state.textContent = "";
  }
}
