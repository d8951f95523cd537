// The parameters part of the form, built from a task type's JSON Schema: a control per property
// (schema-controls.js), nested models as fieldsets, and a choice between two properties the
// schema allows only one of. It reads the values to send and shows errors next to their fields.

import { h } from "./dom.js";
import { controlOf, exclusivePair, labelOf, unwrapOptional } from "./schema.js";
import { buildControl } from "./schema-controls.js";

function parentPath(path) {
  const dot = path.lastIndexOf(".");
  return dot === -1 ? null : path.slice(0, dot);
}

function hasValue(value) {
  return value !== undefined && !(Array.isArray(value) && value.length === 0);
}

export class SchemaForm {
  /** type: a catalog entry; onChange(): a file was added or removed (the form's key changes). */
  constructor(type, { onChange }) {
    this.type = type;
    this.root = type.parameters_schema ?? {};
    this.context = { taskType: type.name, onChange };
    // Every control by its path ("dice", "limits.max"), in the order read.
    this.controls = new Map();
    // The properties the schema allows only one of: {names, chosen}, or null.
    this.pair = null;
    const body = this.properties(this.root, "", 0);
    this.element = h(
      "fieldset",
      { class: "params", dataset: { taskType: type.name, testid: "params" } },
      h("legend", {}, "Parameters"),
      body.length ? body : h("p", { class: "muted" }, "This task type takes no parameters."),
    );
  }

  /** The elements of an object schema's properties; prefix is the path of the object. */
  properties(schema, prefix, depth) {
    const required = new Set(schema.required ?? []);
    const pair = depth === 0 ? exclusivePair(schema) : null;
    const grid = h("div", { class: "field-grid" });
    const parts = [];
    for (const [name, property] of Object.entries(schema.properties ?? {})) {
      // Either of a pair is needed once chosen, so neither is marked optional.
      const inPair = Boolean(pair?.includes(name));
      const el = this.property(name, property, prefix, depth, required.has(name) || inPair);
      if (!inPair) grid.append(el);
    }
    if (pair) parts.push(this.choice(pair, prefix));
    if (grid.childElementCount) parts.push(grid);
    return parts;
  }

  property(name, property, prefix, depth, required) {
    const path = prefix ? `${prefix}.${name}` : name;
    const { schema, optional } = unwrapOptional(property, this.root);
    const control = controlOf(schema, this.root, depth);
    // The property's own title: a nested model's is the model's name, not the field's.
    const label = labelOf(name, property.title, control);
    // Marked optional only when it starts empty and may stay so: a default is shown filled in.
    const empty = schema.default === undefined || schema.default === null;
    const spec = { path, label, schema, optional: !required && (optional || empty) };
    if (control.kind === "object") return this.nested(spec, depth);
    const built = buildControl(spec, control, this.context);
    this.controls.set(path, built);
    return built.el;
  }

  /**
   * A nested model as a fieldset. An optional one (`Model | None`) is sent only when its box is
   * ticked: its fields' defaults are filled in, so "left empty" could never leave it out.
   */
  nested(spec, depth) {
    const errorSlot = h("p", {
      class: "field-error",
      id: `param-error-${spec.path}`,
      dataset: { testid: `error-${spec.path}`, errorFor: spec.path },
    });
    const include = spec.optional
      ? h("input", { type: "checkbox", "aria-label": `Give ${spec.label}`, dataset: { testid: `include-${spec.path}` } })
      : null;
    const legend = h("legend", {}, include ? h("label", {}, include, ` ${spec.label}`) : spec.label);
    const el = h(
      "fieldset",
      { class: "nested wide", dataset: { testid: `param-${spec.path}` } },
      legend,
      spec.schema.description ? h("p", { class: "hint" }, spec.schema.description) : null,
      this.properties(spec.schema, spec.path, depth + 1),
      errorSlot,
    );
    // A disabled fieldset leaves its first legend, and so the box, usable.
    if (include) {
      el.disabled = true;
      include.addEventListener("change", () => {
        el.disabled = !include.checked;
      });
    }
    this.controls.set(spec.path, {
      path: spec.path,
      label: spec.label,
      kind: "object",
      el,
      errorSlot,
      focusTarget: el,
      optional: spec.optional,
      included: () => !include || include.checked,
    });
    return el;
  }

  /**
   * Two properties of which the schema takes at most one (an upload, or synthetic data) as a
   * switch. It starts on the first that needs no upload, so the form can be sent as it is.
   */
  choice(names, prefix) {
    const branches = names.map((name) => this.controls.get(prefix ? `${prefix}.${name}` : name));
    const start = branches.find((branch) => branch.kind !== "file") ?? branches[0];
    this.pair = { branches, chosen: start };
    const group = `choice-${branches.map((branch) => branch.path).join("-")}`;
    const show = () => {
      for (const branch of branches) branch.el.hidden = branch !== this.pair.chosen;
    };
    const radios = branches.map((branch) => {
      const radio = h("input", {
        type: "radio",
        name: group,
        value: branch.path,
        checked: branch === start,
        dataset: { testid: `source-${branch.path}` },
      });
      radio.addEventListener("change", () => {
        this.pair.chosen = branch;
        show();
      });
      return h("label", {}, radio, ` ${branch.label}`);
    });
    show();
    return h(
      "div",
      { class: "choice" },
      h(
        "div",
        { class: "source-switch", role: "radiogroup", "aria-label": branches.map((b) => b.label).join(" or ") },
        radios,
      ),
      h(
        "div",
        { class: "field-grid" },
        branches.map((branch) => branch.el),
      ),
    );
  }

  get hasFiles() {
    return [...this.controls.values()].some((control) => control.kind === "file");
  }

  /** Whether a control is read: not in the branch of the choice not taken, nor in a model left out. */
  inPlay(control) {
    const within = (outer) => control.path === outer.path || control.path.startsWith(`${outer.path}.`);
    const skipped = this.pair ? this.pair.branches.filter((branch) => branch !== this.pair.chosen) : [];
    if (skipped.some(within)) return false;
    return [...this.controls.values()].every((outer) => outer.kind !== "object" || !within(outer) || outer.included());
  }

  /** The parameters to send; what the person must fix goes into errors (path -> [message]). */
  async values(errors) {
    const values = {};
    for (const control of this.controls.values()) {
      if (control.kind === "object" || !this.inPlay(control)) continue;
      const value = await control.read(errors);
      if (hasValue(value)) this.setAt(values, control.path, value);
    }
    this.fillRequiredObjects(values);
    const chosen = this.pair?.chosen;
    if (chosen && !errors.has(chosen.path) && !hasValue(this.valueAt(values, chosen.path))) {
      const other = this.pair.branches.find((branch) => branch !== chosen);
      const ask = chosen.kind === "file" ? "Choose a file" : "Fill this in";
      errors.set(chosen.path, [`${ask}, or switch to ${other.label}.`]);
    }
    return values;
  }

  setAt(values, path, value) {
    const keys = path.split(".");
    let node = values;
    for (const key of keys.slice(0, -1)) node = node[key] ??= {};
    node[keys[keys.length - 1]] = value;
  }

  valueAt(values, path) {
    return path.split(".").reduce((node, key) => node?.[key], values);
  }

  /** A required nested model is sent even when left empty, so the API names what it misses. */
  fillRequiredObjects(values) {
    for (const control of this.controls.values()) {
      if (control.kind !== "object") continue;
      const parent = parentPath(control.path);
      const holder = parent ? this.valueAt(values, parent) : values;
      const key = control.path.slice(parent ? parent.length + 1 : 0);
      if (holder && holder[key] === undefined && !control.optional) holder[key] = {};
    }
  }

  /** "Line 3: …" for an item of a one-per-line list, "Item 2: …" for others. */
  itemMessage(path, { message, index }) {
    if (index === null) return message;
    const label = this.controls.get(path)?.itemLabel?.(index) ?? `Item ${index + 1}`;
    return `${label}: ${message}`;
  }

  /**
   * Show messages next to the field at path, or the nearest enclosing one on screen (naming the
   * inner field); returns what to focus, or null when no field here is the one.
   */
  place(path, messages) {
    for (let at = path; at !== null; at = parentPath(at)) {
      const control = this.controls.get(at);
      if (!control || control.el.closest("[hidden]")) continue;
      const inner = at === path ? "" : `${path.slice(at.length + 1)}: `;
      control.errorSlot.textContent = messages.map((message) => inner + message).join("\n");
      control.focusTarget.setAttribute("aria-invalid", "true");
      return control.focusTarget;
    }
    return null;
  }
}
