"""The task types the API knows: the catalog the workers announce, kept current by a watch.

A submit is checked here against its type's JSON Schema (docs/design.md, "Task types"):
an unknown type is a 422 that lists the known ones, a parameter the schema refuses is a
422 naming it. The worker validates again with its pydantic model and is the authority;
what a JSON Schema cannot say (a rule across fields) is its to refuse.

Two validators of the one schema: jsonschema-rs answers whether parameters fit, in about a
microsecond (the Python validator took 50 µs, an eighth of a batched submit's CPU), and
only a refusal is explained by the Python validator, whose errors carry what the 422
reports (the failing keyword, its value and the instance's path).
"""

import asyncio
import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import structlog
from fastapi.exceptions import RequestValidationError
from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match
from nats.js.kv import KeyValue
from pydantic import ValidationError as ModelError
from taskbus.catalog import EXPECTED_KEY, TaskTypeInfo

log = structlog.get_logger(__name__)

_MAX_QUOTE = 60
_MAX_ERRORS = 50


class TaskTypes:
    """Every announced type by name, updated as workers announce new versions."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._types: dict[str, TaskTypeInfo] = {}
        self._validators: dict[str, _Validators] = {}
        self._watching: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read the catalog, then follow it; returns once the current entries are in."""
        watcher = await self._kv.watchall()
        loaded = asyncio.Event()
        self._watching = asyncio.create_task(self._follow(watcher, loaded))
        await loaded.wait()

    async def stop(self) -> None:
        if self._watching is not None:
            self._watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watching

    async def _follow(self, watcher: KeyValue.KeyWatcher, loaded: asyncio.Event) -> None:
        async for entry in watcher:
            # The watch marks the end of the entries that existed when it began with None.
            if entry is None:
                loaded.set()
                continue
            if not entry.value:
                continue
            try:
                info = TaskTypeInfo.model_validate_json(entry.value)
            except ModelError as exc:
                log.warning("ignoring a malformed catalog entry", key=entry.key, error=str(exc))
                continue
            self._types[info.name] = info
            self._validators[info.name] = _Validators.of(info.parameters_schema)
            log.info("task type known", task_type=info.name, version=info.version)
            loaded.set()

    def __iter__(self) -> Iterator[TaskTypeInfo]:
        return iter(sorted(self._types.values(), key=lambda info: info.name))

    def names(self) -> list[str]:
        return sorted(self._types)

    def get(self, name: str) -> TaskTypeInfo | None:
        return self._types.get(name)

    def check(self, name: str, parameters: dict[str, Any]) -> TaskTypeInfo:
        """The type's entry, once ``parameters`` fit its schema; else a 422 naming why."""
        info = self._types.get(name)
        if info is None:
            known = ", ".join(self.names()) or "none yet (no worker has announced a type)"
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "task_type"),
                        "msg": f"unknown task type {name!r}; known types: {known}",
                        "type": "unknown_task_type",
                    }
                ]
            )
        validators = self._validators[name]
        if validators.fits(parameters):
            return info
        # Lazily, and only so many: 10,000 bad items are reported as fast as 50.
        refused = list(itertools.islice(validators.explain(parameters), _MAX_ERRORS + 1))
        if refused:
            errors = [located for error in refused[:_MAX_ERRORS] for located in _located(error)]
            errors.sort(key=lambda e: str(e["loc"]))
            if len(refused) > _MAX_ERRORS:
                stop = "more errors were not looked for"
                errors.append(_error(("body", "parameters"), stop, "truncated", None))
            # The error handler shows the first few and counts the rest.
            raise RequestValidationError(errors)
        return info


@dataclass(frozen=True, slots=True)
class _Validators:
    """One type's parameters schema, as a quick yes or no and as an explanation of a no."""

    quick: jsonschema_rs.Validator
    explaining: Draft202012Validator

    @classmethod
    def of(cls, schema: dict[str, Any]) -> "_Validators":
        # Formats are annotations in Draft 2020-12, as the Python validator treats them.
        quick = jsonschema_rs.Draft202012Validator(schema, validate_formats=False)
        return cls(quick, Draft202012Validator(schema))

    def fits(self, parameters: dict[str, Any]) -> bool:
        return bool(self.quick.is_valid(parameters))

    def explain(self, parameters: dict[str, Any]) -> Iterator[ValidationError]:
        """Why ``parameters`` do not fit. Nothing when the validators disagree: the Python
        one has the last word here, and the worker's model has it over both."""
        yield from self.explaining.iter_errors(parameters)


def _located(error: ValidationError) -> list[dict[str, Any]]:
    """``error`` as the API reports validation errors: located, one per field at fault."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        # "not valid under any of the given schemas" says little; the closest variant says
        # why, leaving out "is not null" (an optional field's other variant).
        relevant = [e for e in error.context if e.validator_value != "null"] or error.context
        return _located(best_match(relevant))
    at: tuple[str | int, ...] = ("body", "parameters", *error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [key for key in error.validator_value if key not in instance]
        return [_error((*at, key), "Field required", "missing", None) for key in missing]
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        # The words and type pydantic uses, so a typo reads the same from every API.
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        return [
            _error((*at, key), "Extra inputs are not permitted", "extra_forbidden", value)
            for key, value in instance.items()
            if key not in known
        ]
    message = _quoting_briefly(error)
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "not" and isinstance(error.validator_value, dict):
        # A schema says in its description what a refused combination means.
        message = str(error.validator_value.get("description", message))
    elif error.validator in ("pattern", "format") and EXPECTED_KEY in schema:
        message = f"{_brief_repr(instance)} is not {schema[EXPECTED_KEY]}"
    return [_error(at, message, f"schema_{error.validator}", instance)]


def _error(location: tuple[str | int, ...], message: str, kind: str, given: Any) -> dict[str, Any]:
    return {"loc": location, "msg": message, "type": kind, "input": given}


def _brief_repr(value: object) -> str:
    quoted = repr(value)
    return quoted if len(quoted) <= _MAX_QUOTE else f"{quoted[:_MAX_QUOTE]}…"


def _quoting_briefly(error: ValidationError) -> str:
    """The validator's message, with the refused value it quotes cut short.

    It quotes the whole value, which may be as large as the body.
    """
    message = str(error.message)
    quoted = repr(error.instance)
    if len(quoted) <= _MAX_QUOTE:
        return message
    return message.replace(quoted, _brief_repr(error.instance))
