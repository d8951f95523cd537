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
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            refuse_nul(item)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            raise ValueError(f"parameters nest deeper than {max_depth} levels")
        if isinstance(item, dict) and len(item) > MAX_FIELDS:
            raise ValueError(f"an object in parameters has more than {MAX_FIELDS} fields")
        # An object's keys are text too.
        children = [*item, *item.values()] if isinstance(item, dict) else item
        pending.extend((child, depth + 1) for child in children)


def refuse_nul(text: str) -> None:
    # Postgres text and jsonb cannot store NUL: refuse it here, not when storing it.
    if "\x00" in text:
        raise ValueError("text must not contain NUL (\\u0000) characters")


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
