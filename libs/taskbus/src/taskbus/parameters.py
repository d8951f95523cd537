"""What every task type's parameters share: guards for raw client JSON and a strict base.

Each task type's own model lives with its worker (``@app.task`` derives its JSON Schema);
these guards run in the API before any schema is consulted, against hostile shapes that
would cost a validator more than they are worth.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict

MAX_DEPTH = 32
"""How deep parameters may nest (the object itself is level 1; recipients need 3)."""
MAX_FIELDS = 64
"""How many fields an object may have (the models have at most 7)."""


def check_shape(value: object, max_depth: int = MAX_DEPTH) -> None:
    """Refuse JSON ``value`` nested deeper than ``max_depth``, with an object of more than
    ``MAX_FIELDS`` fields or holding NUL (ValueError); for raw parameters from a client.

    A hostile body nests as deep as the JSON parser allows, where a recursive walk would
    overflow the stack: this one keeps a stack of (value, depth) and is linear in the size
    of ``value``. Each unknown field would be an error of its own: 90,000 of them cost the
    API half a second and 125 MB.
    """
    pending: list[tuple[object, int, tuple[str | int, ...]]] = [(value, 1, ())]
    while pending:
        item, depth, path = pending.pop()
        if isinstance(item, str):
            try:
                refuse_nul(item)
            except ValueError as exc:
                raise ValueError(f"{_dotted(path)}: {exc}") from None
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            raise ValueError(f"parameters nest deeper than {max_depth} levels")
        if isinstance(item, dict) and len(item) > MAX_FIELDS:
            raise ValueError(f"an object in parameters has more than {MAX_FIELDS} fields")
        if isinstance(item, dict):
            for key, child in item.items():
                # An object's keys are text too.
                pending.append((key, depth + 1, (*path, "(a field name)")))
                pending.append((child, depth + 1, (*path, key)))
        else:
            pending.extend((child, depth + 1, (*path, i)) for i, child in enumerate(item))


def _dotted(path: tuple[str | int, ...]) -> str:
    """Where in the parameters a value is, as a reader would write it: ``parameters.a[0].b``."""
    text = "parameters"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part!r}"[:60]
    return text


def refuse_nul(text: str) -> None:
    """Refuse text Postgres cannot store (NUL) or UTF-8 cannot encode (a lone surrogate)."""
    # Refused here, not when the event is encoded or stored.
    if "\x00" in text:
        raise ValueError("text must not contain NUL (\\u0000) characters")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValueError(
            "unable to parse raw data as a unicode string: a lone surrogate (\\ud800-\\udfff)"
        ) from None


def default_to_synthetic(data: Any, uploaded: str, synthetic: str, size: int) -> Any:
    """With neither uploaded inputs nor a synthetic size, work on a small synthetic input."""
    if isinstance(data, dict) and data.get(uploaded) is None and data.get(synthetic) is None:
        return {**data, synthetic: size}
    return data


def one_source_schema(uploaded: str, synthetic: str) -> dict[str, Any]:
    """The JSON Schema form of ``refuse_both``, for a model's ``json_schema_extra``."""
    return {
        "not": {
            "required": [uploaded, synthetic],
            "description": f"give either {uploaded} or {synthetic}, not both",
        }
    }


def refuse_both(model: BaseModel, uploaded: str, synthetic: str) -> None:
    if getattr(model, uploaded) is not None and getattr(model, synthetic) is not None:
        raise ValueError(f"give either {uploaded} or {synthetic}, not both")


class Parameters(BaseModel):
    """A strict parameters model: an unknown field is a 422 naming it, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)
