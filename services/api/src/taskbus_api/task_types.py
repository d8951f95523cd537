"""The task types the API knows: the catalog the workers announce, kept current by a watch.

A submit is checked here against its type's JSON Schema (docs/design.md, "Task types"):
an unknown type is a 422 that lists the known ones, a parameter the schema refuses is a
422 naming it. The worker validates again with its pydantic model and is the authority;
what a JSON Schema cannot say (a rule across fields) is its to refuse.
"""

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import structlog
from fastapi.exceptions import RequestValidationError
from jsonschema import Draft202012Validator, ValidationError
from nats.js.kv import KeyValue
from pydantic import ValidationError as ModelError
from taskbus.catalog import TaskTypeInfo

log = structlog.get_logger(__name__)

_MAX_ERRORS = 10


class TaskTypes:
    """Every announced type by name, updated as workers announce new versions."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._types: dict[str, TaskTypeInfo] = {}
        self._validators: dict[str, Draft202012Validator] = {}
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
            self._validators[info.name] = Draft202012Validator(info.parameters_schema)
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
        errors = sorted(
            self._validators[name].iter_errors(parameters), key=lambda e: list(e.absolute_path)
        )
        if errors:
            raise RequestValidationError([_located(error) for error in errors[:_MAX_ERRORS]])
        return info


def _located(error: ValidationError) -> dict[str, Any]:
    location: tuple[str | int, ...] = ("body", "parameters", *error.absolute_path)
    message = error.message
    if error.validator == "required" and isinstance(error.instance, dict):
        missing = [key for key in error.validator_value if key not in error.instance]
        location, message = (*location, *missing[:1]), "field required"
    elif error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        unknown = sorted(key for key in error.instance if key not in known)
        location, message = (*location, *unknown[:1]), "extra inputs are not permitted"
    elif error.validator == "not" and isinstance(error.validator_value, dict):
        # A schema says in its description what a refused combination means.
        message = str(error.validator_value.get("description", message))
    return {"loc": location, "msg": message, "type": f"schema_{error.validator}"}
