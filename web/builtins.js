// What the built-in task types get beyond what their schemas say, in one place: labels nicer
// than their names, and the recipients' "Name <address>" line syntax. Every other type, and
// everything else about these three, comes from the catalog.

const TYPE_LABELS = {
  csv_processing: "CSV processing",
  email_sending: "Email sending",
  image_processing: "Image processing",
};

// "Name <address>", the name optionally quoted.
const NAMED_RECIPIENT = /^"?(.*?)"?\s*<([^<>]*)>$/;

/** A line of the recipients list: an address, or a {email, name} recipient. */
function recipient(line) {
  const named = NAMED_RECIPIENT.exec(line);
  return named ? { email: named[2].trim(), name: named[1].trim() } : line;
}

const FIELD_TUNING = {
  email_sending: {
    recipients: { parseLine: recipient, hint: "One per line: an address, or Name <address>." },
    body: { hint: "{name} and {email} are replaced for each recipient." },
  },
};

/** The label a built-in type is shown under, or undefined for any other type. */
export function builtinLabel(taskType) {
  return TYPE_LABELS[taskType];
}

/** {parseLine?, hint?} for a built-in type's parameter; empty for any other. */
export function fieldTuning(taskType, field) {
  return FIELD_TUNING[taskType]?.[field] ?? {};
}
