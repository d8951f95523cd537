// A file field that uploads as soon as files are chosen or dropped, so that by the time the
// form is submitted the files are in the object store and only their ids are sent.

import { uploadFile } from "./api.js";
import { h } from "./dom.js";
import { formatBytes } from "./format.js";
import { errorMessage } from "./toasts.js";

export class UploadField {
  /**
   * zone: the drop target (a <label> around input); input: the <input type=file>;
   * list: the <ul> that shows the files; multiple: keep several files or replace the one held;
   * purpose: the task type the files are for, so that the API refuses (415, shown on the file)
   * one of a content type the type does not take, rather than the submit later.
   */
  constructor({ zone, input, list, multiple, purpose, onChange }) {
    this.input = input;
    this.list = list;
    this.multiple = multiple;
    this.purpose = purpose;
    this.onChange = onChange;
    this.items = [];
    input.addEventListener("change", () => {
      this.add([...input.files]);
      input.value = "";
    });
    zone.addEventListener("dragover", (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      this.add([...(event.dataTransfer?.files ?? [])]);
    });
  }

  add(files) {
    const chosen = [...files];
    if (chosen.length === 0) return;
    if (!this.multiple) {
      for (const item of this.items) this.remove(item);
      chosen.length = 1;
    }
    for (const file of chosen) this.start(file);
    this.onChange();
  }

  start(file) {
    const item = { file, fileId: null, error: null, preview: null };
    if (file.type.startsWith("image/")) item.preview = URL.createObjectURL(file);
    item.status = h("span", { class: "upload-status" }, "Uploading…");
    item.el = this.itemElement(item);
    this.list.append(item.el);
    this.items.push(item);
    const onProgress = (fraction) => {
      item.status.textContent = `Uploading… ${Math.round(fraction * 100)}%`;
    };
    item.done = uploadFile(file, { purpose: this.purpose, onProgress }).then(
      (info) => {
        item.fileId = info.file_id;
        item.el.dataset.fileId = info.file_id;
        item.el.dataset.state = "done";
        item.status.textContent = "Uploaded";
        this.onChange();
      },
      (error) => {
        item.error = errorMessage(error);
        item.el.dataset.state = "error";
        item.status.textContent = item.error;
        this.onChange();
      },
    );
  }

  itemElement(item) {
    const remove = h(
      "button",
      { type: "button", class: "button small ghost", "aria-label": `Remove ${item.file.name}` },
      "Remove",
    );
    remove.addEventListener("click", () => {
      this.remove(item);
      this.onChange();
    });
    return h(
      "li",
      { class: "upload-item", dataset: { state: "uploading", testid: "upload-item" } },
      item.preview ? h("img", { src: item.preview, alt: "", class: "upload-thumb" }) : null,
      h("span", { class: "upload-name" }, item.file.name),
      h("span", { class: "upload-size muted" }, formatBytes(item.file.size)),
      item.status,
      remove,
    );
  }

  remove(item) {
    if (item.preview) URL.revokeObjectURL(item.preview);
    item.el.remove();
    this.items = this.items.filter((other) => other !== item);
  }

  /** Wait for every upload in progress to finish, successfully or not. */
  async settled() {
    await Promise.allSettled(this.items.map((item) => item.done));
  }

  fileIds() {
    return this.items.filter((item) => item.fileId).map((item) => item.fileId);
  }

  /** Messages of the uploads that failed, to show next to the field. */
  errors() {
    return this.items.filter((item) => item.error).map((item) => `${item.file.name}: ${item.error}`);
  }
}
