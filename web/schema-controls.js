// One form control per kind of schema property (schema.js decides the kind). Each control is
// {path, label, el, focusTarget, errorSlot, read(errors), itemLabel?(index)}: read returns the
// value to send, undefined to leave the property out (the type's default applies), and adds
// what the person must fix to errors (path -> [message]).

import { fieldTuning } from "./builtins.js";
import { h } from "./dom.js";
import { formatNumber } from "./format.js";
import { UploadField } from "./uploads.js";

// A string longer than this, or one whose default spans lines, is edited in a textarea.
const LONG_TEXT = 1000;

/** "1 to 50", "at least 0": the bounds of a number, to say beside it. */
function rangeText(schema) {
  const low = schema.minimum ?? schema.exclusiveMinimum;
  const high = schema.maximum ?? schema.exclusiveMaximum;
  const lowText = `${"exclusiveMinimum" in schema ? "more than" : "at least"} ${formatNumber(low)}`;
  const highText = `${"exclusiveMaximum" in schema ? "less than" : "at most"} ${formatNumber(high)}`;
  if (low !== undefined && high !== undefined) {
    const inclusive = "minimum" in schema && "maximum" in schema;
    return inclusive ? `${formatNumber(low)} to ${formatNumber(high)}` : `${lowText}, ${highText}`;
  }
  if (low !== undefined) return lowText;
  if (high !== undefined) return highText;
  return "";
}

function sentence(text) {
  const trimmed = text.trim();
  if (!trimmed) return "";
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : `${capital}.`;
}

/**
 * A schema pattern as an input's, for the browser to check as typed. JSON Schema's matches
 * anywhere in the value, an input's the whole value, hence the `.*` around it; one that is not
 * also valid JavaScript (Python's dialect differs) is left to the API.
 */
function browserPattern(pattern) {
  if (typeof pattern !== "string") return null;
  const whole = `.*(?:${pattern}).*`;
  try {
    new RegExp(`^(?:${whole})$`, "v");
    return whole;
  } catch {
    return null;
  }
}

/**
 * The wrapper every control shares: a label, the control's body, a hint (the description,
 * bounds and any built-in tuning) and the slot its errors go in. ids are prefixed "param-" so
 * that a parameter called "name" does not collide with the task's own name field.
 * describe: the elements the hint and errors describe; checkbox: the label wraps the body.
 */
function shell(spec, body, { describe = [body], hintParts = [], wide = false, checkbox = false } = {}) {
  const { path, label, schema, optional } = spec;
  const hint = [schema.description, ...hintParts, spec.tuning.hint]
    .filter(Boolean)
    .map(sentence)
    .join(" ");
  const hintId = `param-hint-${path}`;
  const errorId = `param-error-${path}`;
  const describedBy = [hint ? hintId : null, errorId].filter(Boolean).join(" ");
  for (const el of describe) el.setAttribute("aria-describedby", describedBy);
  const marker = optional ? h("span", { class: "optional" }, " optional") : null;
  const errorSlot = h("p", {
    class: "field-error",
    id: errorId,
    dataset: { testid: `error-${path}`, errorFor: path },
  });
  const classes = ["field", wide ? "wide" : null, checkbox ? "checkbox-field" : null];
  const el = h(
    "div",
    { class: classes.filter(Boolean).join(" ") },
    checkbox ? h("label", {}, body, ` ${label}`, marker) : [h("label", { for: `param-${path}` }, label, marker), body],
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    errorSlot,
  );
  return { el, errorSlot };
}

function inputProps(spec, extra) {
  return { id: `param-${spec.path}`, name: spec.path, dataset: { testid: `param-${spec.path}` }, ...extra };
}

function numberControl(spec, { integer }) {
  const { schema } = spec;
  const step = schema.multipleOf ?? (integer ? 1 : "any");
  const input = h(
    "input",
    inputProps(spec, {
      type: "number",
      min: schema.minimum,
      max: schema.maximum,
      step,
      inputmode: integer ? "numeric" : "decimal",
      value: typeof schema.default === "number" ? schema.default : null,
    }),
  );
  const range = rangeText(schema);
  const { el, errorSlot } = shell(spec, input, { hintParts: range ? [range] : [] });
  return {
    el,
    errorSlot,
    focusTarget: input,
    read(errors) {
      if (input.validity.badInput) errors.set(spec.path, ["Enter a number."]);
      return input.value === "" ? undefined : Number(input.value);
    },
  };
}

function textControl(spec) {
  const { schema } = spec;
  const initial = typeof schema.default === "string" ? schema.default : "";
  const long = initial.includes("\n") || (schema.maxLength ?? 0) > LONG_TEXT;
  const props = inputProps(spec, {
    maxlength: schema.maxLength,
    minlength: schema.minLength,
  });
  const input = long
    ? h("textarea", { ...props, rows: 6 }, initial)
    : h("input", { ...props, type: "text", value: initial, pattern: browserPattern(schema.pattern) });
  const { el, errorSlot } = shell(spec, input, { wide: long || (schema.maxLength ?? LONG_TEXT) > 200 });
  return {
    el,
    errorSlot,
    focusTarget: input,
    read: () => (input.value === "" ? undefined : input.value),
  };
}

function booleanControl(spec) {
  const input = h("input", inputProps(spec, { type: "checkbox", checked: spec.schema.default === true }));
  const { el, errorSlot } = shell(spec, input, { checkbox: true });
  return { el, errorSlot, focusTarget: input, read: () => input.checked };
}

function choiceLabel(value) {
  if (typeof value === "boolean") return value ? "Yes" : "No";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** A select of an enum's values, sent as they are (strings, numbers, booleans). */
function choiceControl(spec, { choices }) {
  const hasDefault = spec.schema.default !== undefined && spec.schema.default !== null;
  const chosen = JSON.stringify(spec.schema.default);
  const options = choices
    .filter((value) => value !== null)
    .map((value) =>
      h(
        "option",
        { value: JSON.stringify(value), selected: JSON.stringify(value) === chosen },
        choiceLabel(value),
      ),
    );
  // Without a default there is nothing to pre-select: empty leaves it out, or the API says it is required.
  const empty = hasDefault ? null : h("option", { value: "" }, spec.optional ? "Not set" : "Choose…");
  const input = h("select", inputProps(spec, {}), empty, options);
  const { el, errorSlot } = shell(spec, input);
  return {
    el,
    errorSlot,
    focusTarget: input,
    read: () => (input.value === "" ? undefined : JSON.parse(input.value)),
  };
}

function lineValue(line, item) {
  if (item.type === "integer" || item.type === "number") {
    const number = Number(line);
    return Number.isFinite(number) ? { value: number } : { error: "Enter a number." };
  }
  if (item.type === "boolean") {
    if (line === "true" || line === "false") return { value: line === "true" };
    return { error: "Enter true or false." };
  }
  return { value: line };
}

/** An array of scalars as a textarea, one item per line; blank lines are skipped. */
function linesControl(spec, { item }) {
  const initial = Array.isArray(spec.schema.default) ? spec.schema.default.map(String).join("\n") : "";
  const input = h("textarea", inputProps(spec, { rows: 5, spellcheck: "false" }), initial);
  // A built-in's own hint says what a line holds.
  const hintParts = spec.tuning.hint ? [] : ["one per line"];
  const { el, errorSlot } = shell(spec, input, { wide: true, hintParts });
  const parse = spec.tuning.parseLine ?? ((line) => line);
  let lineNumbers = [];
  return {
    el,
    errorSlot,
    focusTarget: input,
    read(errors) {
      const values = [];
      const problems = [];
      lineNumbers = [];
      input.value.split(/\r?\n/).forEach((raw, number) => {
        const line = raw.trim();
        if (!line) return;
        const { value, error } = lineValue(line, item);
        if (error) problems.push(`Line ${number + 1}: ${error}`);
        else values.push(parse(value));
        lineNumbers.push(number + 1);
      });
      if (problems.length) errors.set(spec.path, problems);
      return values.length ? values : undefined;
    },
    itemLabel: (index) => `Line ${lineNumbers[index] ?? index + 1}`,
  };
}

/** Anything the other controls cannot express (a list of objects, a free-form map) as JSON. */
function jsonControl(spec) {
  const initial = spec.schema.default === undefined || spec.schema.default === null
    ? ""
    : JSON.stringify(spec.schema.default, null, 2);
  const input = h("textarea", inputProps(spec, { rows: 5, spellcheck: "false" }), initial);
  const { el, errorSlot } = shell(spec, input, { wide: true, hintParts: ["as JSON"] });
  return {
    el,
    errorSlot,
    focusTarget: input,
    read(errors) {
      if (input.value.trim() === "") return undefined;
      try {
        return JSON.parse(input.value);
      } catch (error) {
        errors.set(spec.path, [`Enter valid JSON: ${error.message}`]);
        return undefined;
      }
    },
  };
}

/** Files upload as soon as they are chosen; the parameter gets their file ids. */
function fileControl(spec, { multiple, accept }, { taskType, onChange }) {
  const id = `param-${spec.path}`;
  const input = h("input", {
    id,
    type: "file",
    accept: accept.length ? accept.join(",") : null,
    multiple,
    class: "visually-hidden",
    dataset: { testid: `file-${spec.path}` },
  });
  const zone = h(
    "label",
    { class: "dropzone", for: id, dataset: { testid: `dropzone-${spec.path}` } },
    input,
    h(
      "span",
      { class: "dropzone-text" },
      multiple ? "Drop files here or " : "Drop a file here or ",
      h("span", { class: "link-like" }, multiple ? "choose files" : "choose a file"),
    ),
  );
  const list = h("ul", { class: "upload-list", dataset: { testid: `uploads-${spec.path}` } });
  const uploads = new UploadField({ zone, input, list, multiple, purpose: taskType, onChange });
  const node = h("div", { class: "upload-section" }, zone, list);
  const { el, errorSlot } = shell(spec, node, { describe: [input], wide: true });
  return {
    el,
    errorSlot,
    focusTarget: input,
    async read(errors) {
      await uploads.settled();
      const failed = uploads.errors();
      if (failed.length) errors.set(spec.path, failed);
      const ids = uploads.fileIds();
      if (ids.length === 0) return undefined;
      return multiple ? ids : ids[0];
    },
  };
}

const BUILDERS = {
  number: numberControl,
  text: textControl,
  boolean: booleanControl,
  choice: choiceControl,
  lines: linesControl,
  json: jsonControl,
  file: fileControl,
};

/**
 * The control of one property. spec: {path, label, schema, optional}; control: schema.js's
 * controlOf; context: {taskType, onChange}. Objects are schema-form.js's to lay out.
 */
export function buildControl(spec, control, context) {
  const tuned = { ...spec, tuning: fieldTuning(context.taskType, spec.path) };
  // A checkbox cannot say "not set": an optional flag without a default is a choice of three.
  const unset = spec.optional && (spec.schema.default === undefined || spec.schema.default === null);
  const kind = control.kind === "boolean" && unset ? "choice" : control.kind;
  const shape = kind === "choice" && control.kind === "boolean" ? { choices: [true, false] } : control;
  return { path: spec.path, label: spec.label, kind, ...BUILDERS[kind](tuned, shape, context) };
}
