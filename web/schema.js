// Reading a task type's parameters schema (pydantic's JSON Schema, Draft 2020-12) for the form:
// which control each property gets and what it is called. No DOM here; schema-form.js builds it.

import { humanize } from "./format.js";

const FILE_FORMAT = "taskbus-file";
const SCALAR_TYPES = new Set(["string", "integer", "number", "boolean"]);
// Nested models deeper than this are edited as JSON: a form of fieldsets in fieldsets in
// fieldsets helps nobody, and a recursive model would never end.
const MAX_DEPTH = 3;

/** schema with a local `$ref` ("#/$defs/Name") replaced by what it names, merged with its siblings. */
export function resolve(schema, root) {
  if (!schema || typeof schema.$ref !== "string" || !schema.$ref.startsWith("#/")) return schema ?? {};
  const target = schema.$ref
    .slice(2)
    .split("/")
    .reduce((node, key) => node?.[key.replaceAll("~1", "/").replaceAll("~0", "~")], root);
  const { $ref, ...siblings } = schema;
  return { ...resolve(target, root), ...siblings };
}

/**
 * pydantic writes `X | None` as anyOf [X, {type: null}]: the field may be left out. Returns the
 * X schema (its siblings such as default and description kept) and whether null was allowed.
 */
export function unwrapOptional(schema, root) {
  const resolved = resolve(schema, root);
  const variants = resolved.anyOf;
  if (!Array.isArray(variants)) return { schema: resolved, optional: false };
  const others = variants.filter((variant) => variant.type !== "null");
  if (others.length === variants.length || others.length !== 1) return { schema: resolved, optional: false };
  const { anyOf, ...siblings } = resolved;
  return { schema: { ...resolve(others[0], root), ...siblings }, optional: true };
}

/** The allowed values of an enum or `Literal` (enum, or const for a single one), else null. */
export function choicesOf(schema) {
  if (Array.isArray(schema.enum)) return schema.enum;
  if ("const" in schema) return [schema.const];
  return null;
}

function isFile(schema) {
  return schema.type === "string" && schema.format === FILE_FORMAT;
}

function isScalar(schema, root) {
  const resolved = resolve(schema, root);
  return SCALAR_TYPES.has(resolved.type) || choicesOf(resolved) !== null;
}

/**
 * The schema an array's line of text stands for: its item schema when that is a scalar, or the
 * scalar variant of items that may also be an object (an address, or {email, name}).
 */
function lineItem(items, root) {
  const resolved = resolve(items, root);
  if (isScalar(resolved, root)) return resolved;
  const scalar = (resolved.anyOf ?? []).find((variant) => isScalar(variant, root));
  return scalar ? resolve(scalar, root) : null;
}

/**
 * Which control a property gets: {kind, ...}. kind is one of file, choice, boolean, number,
 * text, lines (an array, one item per line), object (a fieldset of its properties) or json,
 * for whatever the others cannot express.
 */
export function controlOf(schema, root, depth = 0) {
  if (isFile(schema)) return { kind: "file", multiple: false, accept: schema["x-taskbus-accept"] ?? [] };
  const choices = choicesOf(schema);
  if (choices) return { kind: "choice", choices };
  switch (schema.type) {
    case "boolean":
      return { kind: "boolean" };
    case "integer":
    case "number":
      return { kind: "number", integer: schema.type === "integer" };
    case "string":
      return { kind: "text" };
    case "array": {
      const items = resolve(schema.items, root);
      if (isFile(items)) return { kind: "file", multiple: true, accept: items["x-taskbus-accept"] ?? [] };
      const item = lineItem(items, root);
      return item ? { kind: "lines", item } : { kind: "json" };
    }
    case "object":
      return schema.properties && depth < MAX_DEPTH ? { kind: "object" } : { kind: "json" };
    default:
      return { kind: "json" };
  }
}

/**
 * A property's label: the title the model gave it, else its name in sentence case (pydantic's
 * own title, "Num Rows", is the name in title case). A file parameter names an upload, so
 * "file_ids" reads "Files": the person picks files, not ids.
 */
export function labelOf(name, title, control) {
  const automatic = String(name)
    .split("_")
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join(" ");
  const label = title && title !== automatic ? title : humanize(name);
  return control.kind === "file" ? label.replace(/ id(s?)$/i, "$1") : label;
}

/**
 * Pairs of properties a schema allows at most one of, as `not: {required: [a, b]}` says (the
 * built-ins' "an upload or synthetic data"): the form offers a choice between them.
 */
export function exclusivePair(schema) {
  const required = schema.not?.required;
  if (!Array.isArray(required) || required.length !== 2) return null;
  return required.every((name) => name in (schema.properties ?? {})) ? required : null;
}
