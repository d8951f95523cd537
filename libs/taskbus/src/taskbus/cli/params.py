"""``-p key=value``: each value typed by the task type's JSON Schema when the API has a catalog.

A field the schema says is a string takes the text as it is (``-p subject=42`` is the text
"42"); any other value is read as JSON (``-p num_rows=10``, ``-p has_header=false``,
``-p 'recipients=["a@example.com"]'``). Without a schema for the field (no catalog, or a
field the schema does not name, which the API will refuse by name), a value that is JSON is
taken as such and anything else as text.
"""

import json
from typing import Any

_JSON_TYPES: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}


def parse_params(pairs: list[str], schema: dict[str, Any] | None) -> dict[str, Any]:
    """The parameters ``key=value`` pairs give; raises ValueError on a pair without ``=``."""
    properties = (schema or {}).get("properties", {})
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"{pair!r} is not key=value")
        field = properties.get(key)
        params[key] = _typed(raw, None if field is None else _types(field, schema or {}))
    return params


def _typed(raw: str, types: set[str] | None) -> Any:
    if types is not None and types <= {"string", "null"} and "string" in types:
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if types is None or not types or _json_type(value) in types:
        return value
    # An integer is a number too; anything else the schema does not take stays text.
    if _json_type(value) == "integer" and "number" in types:
        return value
    return raw if "string" in types else value


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "string")


def _types(field: dict[str, Any], root: dict[str, Any], depth: int = 0) -> set[str]:
    """The JSON types a field's schema allows (empty: any), through ``$ref``s into ``$defs``
    and ``anyOf``/``oneOf``/``allOf``, as pydantic writes them."""
    if depth > 8:  # a recursive schema: stop guessing
        return set()
    if "$ref" in field:
        name = str(field["$ref"]).rpartition("/")[2]
        return _types(root.get("$defs", {}).get(name, {}), root, depth + 1)
    declared = field.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return {str(one) for one in declared}
    for values in ("enum", "const"):
        if values in field:
            allowed = field[values] if values == "enum" else [field[values]]
            return {_json_type(value) for value in allowed}
    found: set[str] = set()
    for combinator in ("anyOf", "oneOf", "allOf"):
        for option in field.get(combinator, []):
            found |= _types(option, root, depth + 1)
    return found
