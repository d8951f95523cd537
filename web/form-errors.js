// Turning the API's 422 body into messages per form field.
//
// FastAPI names the field by `loc`, e.g. ["body", "parameters", "num_rows"] or, for one entry
// of a list, ["body", "parameters", "recipients", 3, "Recipient", "email"]. A parameter-level
// error (["body", "parameters"]: "give either file_id or num_rows") belongs to no single field.

const UNION_MISMATCH = /_type$/;

function target(loc) {
  const path = loc[0] === "body" ? loc.slice(1) : loc;
  if (path[0] !== "parameters") {
    return { field: typeof path[0] === "string" ? path[0] : null, index: null };
  }
  const rest = path.slice(1);
  const fieldAt = rest.findIndex((part) => typeof part === "string");
  if (fieldAt === -1) return { field: null, index: null };
  const index = rest.slice(fieldAt + 1).find((part) => typeof part === "number");
  return { field: rest[fieldAt], index: index ?? null };
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
    const key = `${error.field}:${error.index}`;
    groups.set(key, [...(groups.get(key) ?? []), error]);
  }
  return [...groups.values()].flatMap((group) => {
    const real = group.filter((error) => !UNION_MISMATCH.test(error.type));
    return real.length > 0 ? real : group;
  });
}

/**
 * The errors of a 422 detail list as {fields: Map(field -> [{message, index}]), general: [message]}.
 */
export function validationErrors(detail) {
  const parsed = detail.map((item) => ({
    ...target(Array.isArray(item.loc) ? item.loc : []),
    type: String(item.type ?? ""),
    message: cleanMessage(item.msg),
  }));
  const fields = new Map();
  const general = [];
  for (const error of dropUnionNoise(parsed)) {
    if (error.field === null) {
      general.push(error.message);
      continue;
    }
    const list = fields.get(error.field) ?? [];
    if (!list.some((e) => e.message === error.message && e.index === error.index)) {
      list.push({ message: error.message, index: error.index });
    }
    fields.set(error.field, list);
  }
  return { fields, general };
}
