// Turning the API's 422 body into messages per form field.
//
// FastAPI names the field by `loc`, e.g. ["body", "parameters", "num_rows"], for a nested model
// ["body", "parameters", "limits", "max"] or, for one entry of a list, ["body", "parameters",
// "recipients", 3, "Recipient", "email"]. A parameter-level error (["body", "parameters"]: "give
// either file_id or num_rows") belongs to no single field. Parameters and the task's own fields
// (["body", "name"]) are told apart: a type may well have a parameter called "name".

const UNION_MISMATCH = /_type$/;

/** {scope: "parameters" | "task" | null, field: a dotted path, index: the list entry or null}. */
function target(loc) {
  const path = loc[0] === "body" ? loc.slice(1) : loc;
  if (path[0] !== "parameters") {
    const field = typeof path[0] === "string" ? path[0] : null;
    return { scope: field === null ? null : "task", field, index: null };
  }
  const rest = path.slice(1);
  const listAt = rest.findIndex((part) => typeof part === "number");
  const keys = listAt === -1 ? rest : rest.slice(0, listAt);
  if (keys.length === 0) return { scope: null, field: null, index: null };
  return { scope: "parameters", field: keys.join("."), index: listAt === -1 ? null : rest[listAt] };
}

function cleanMessage(message) {
  return String(message ?? "Invalid value").replace(/^Value error, /, "");
}

/**
 * For a list entry that may be one of several shapes (a recipient object or an address), pydantic
 * reports a mismatch per shape; "Input should be a valid string" next to the real reason is
 * noise, so such type mismatches are dropped when the entry has another error.
 */
function dropUnionNoise(errors) {
  const groups = new Map();
  for (const error of errors) {
    const key = `${error.scope}:${error.field}:${error.index}`;
    groups.set(key, [...(groups.get(key) ?? []), error]);
  }
  return [...groups.values()].flatMap((group) => {
    const real = group.filter((error) => !UNION_MISMATCH.test(error.type));
    return real.length > 0 ? real : group;
  });
}

/**
 * The errors of a 422 detail list as {parameters, task, general}: the first two are
 * Map(field -> [{message, index}]), general a list of messages.
 */
export function validationErrors(detail) {
  const parsed = detail.map((item) => ({
    ...target(Array.isArray(item.loc) ? item.loc : []),
    type: String(item.type ?? ""),
    message: cleanMessage(item.msg),
  }));
  const scopes = { parameters: new Map(), task: new Map() };
  const general = [];
  for (const error of dropUnionNoise(parsed)) {
    if (error.scope === null) {
      general.push(error.message);
      continue;
    }
    const fields = scopes[error.scope];
    const list = fields.get(error.field) ?? [];
    if (!list.some((e) => e.message === error.message && e.index === error.index)) {
      list.push({ message: error.message, index: error.index });
    }
    fields.set(error.field, list);
  }
  return { ...scopes, general };
}
