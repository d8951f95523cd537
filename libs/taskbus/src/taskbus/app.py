"""Declaring task types in Python: ``TaskApp`` and its ``@app.task`` decorator.

One declaration is everything the system knows about a type: the handler, the pydantic
models of its parameters and result (read from the handler's annotations), its defaults
and description, and which parameters are uploaded files (``FileRef``). The worker runs
it (``taskbus worker MODULE:APP``) and announces it in the catalog, from which the API,
the UI and the CLI learn the type.
"""

import importlib
import inspect
import re
import sys
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar, get_type_hints

from nats.js import JetStreamContext
from pydantic import BaseModel, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from taskbus.catalog import (
    ACCEPT_KEY,
    FILE_FORMAT,
    TaskTypeInfo,
    announce,
    catalog_bucket,
    file_fields,
    schema_version,
)
from taskbus.client import Client, TaskHandle, current_client
from taskbus.settings import CommonSettings
from taskbus.tasks import TASK_TYPE_PATTERN

if TYPE_CHECKING:
    # The runtime imports this module: at run time the name is only ever an annotation.
    from taskbus.worker.context import TaskContext

P = TypeVar("P", bound=BaseModel)
R = TypeVar("R", bound=BaseModel | dict[str, Any])


@dataclass(frozen=True, slots=True)
class _FileMarker:
    accept: tuple[str, ...] = ()

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema["format"] = FILE_FORMAT
        if self.accept:
            schema[ACCEPT_KEY] = list(self.accept)
        return schema


# The store's ids are UUIDs (36 characters); the bound keeps a wrong one's error message short.
FileRef = Annotated[str, StringConstraints(min_length=1, max_length=64), _FileMarker()]
"""A parameter naming a file uploaded with ``POST /api/files``: the API checks it exists."""


def accepts(*content_types: str) -> Any:
    """Narrow a ``FileRef`` to files of ``content_types``: ``Annotated[FileRef, accepts(...)]``."""
    return _FileMarker(tuple(content_types))


@dataclass(frozen=True, slots=True)
class TaskDef(Generic[P, R]):
    """One task type: what ``@app.task`` makes of a handler."""

    name: str
    app: str
    handler: "Callable[[TaskContext, P], Awaitable[R]]"
    parameters: type[P]
    result: type[BaseModel] | None
    max_attempts: int
    timeout_s: float | None
    description: str

    async def __call__(self, ctx: "TaskContext", params: P) -> R:
        return await self.handler(ctx, params)

    async def submit(
        self,
        params: P,
        *,
        client: Client | None = None,
        name: str | None = None,
        idempotency_key: str | None = None,
        max_attempts: int | None = None,
        timeout_s: float | None = None,
    ) -> TaskHandle[R]:
        """Submit a task of this type through ``client`` (by default, the one of the
        innermost ``async with taskbus.Client()``); its handle's ``result()`` is an ``R``."""
        client = client or current_client()
        submitted = await client.submit(
            self.name,
            params.model_dump(mode="json"),
            name=name,
            idempotency_key=idempotency_key,
            max_attempts=max_attempts,
            timeout_s=timeout_s,
        )
        assert submitted.task is not None, "a submit answers with the task"
        return TaskHandle[R](client, submitted.task, result_model=self.result)

    async def submit_many(
        self, params: Iterable[P], *, client: Client | None = None, name: str | None = None
    ) -> list[TaskHandle[R]]:
        """Submit many tasks of this type at once (``Client.submit_many``), typed as ``submit``."""
        client = client or current_client()
        handles = await client.submit_many(
            self.name, [p.model_dump(mode="json") for p in params], name=name
        )
        return [TaskHandle[R](client, h.task or h.id, result_model=self.result) for h in handles]

    def info(self) -> TaskTypeInfo:
        """The type as the catalog lists it."""
        parameters_schema = self.parameters.model_json_schema()
        result_schema = self.result.model_json_schema() if self.result is not None else None
        return TaskTypeInfo(
            name=self.name,
            app=self.app,
            description=self.description,
            parameters_schema=parameters_schema,
            result_schema=result_schema,
            max_attempts=self.max_attempts,
            timeout_s=self.timeout_s,
            file_fields=file_fields(parameters_schema),
            version=schema_version(
                parameters_schema, result_schema, self.max_attempts, self.timeout_s
            ),
        )


class TaskApp:
    """A group of task types served together by one worker service."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tasks: dict[str, TaskDef[Any, Any]] = {}

    def task(
        self,
        name: str,
        *,
        max_attempts: int = 3,
        timeout_s: float | None = None,
        description: str | None = None,
    ) -> "Callable[[Callable[[TaskContext, P], Awaitable[R]]], TaskDef[P, R]]":
        """Declare the decorated ``async def handler(ctx, params: Model) -> Result`` as ``name``.

        ``max_attempts`` and ``timeout_s`` are the defaults a submit may override; the
        description defaults to the handler's docstring.
        """
        if re.fullmatch(TASK_TYPE_PATTERN, name) is None:
            raise ValueError(f"task type {name!r} does not match {TASK_TYPE_PATTERN}")
        if name in self.tasks:
            raise ValueError(f"task type {name!r} is declared twice in app {self.name!r}")
        if max_attempts < 1 or (timeout_s is not None and timeout_s <= 0):
            raise ValueError("max_attempts must be at least 1 and timeout_s positive")

        def declare(handler: "Callable[[TaskContext, P], Awaitable[R]]") -> TaskDef[P, R]:
            parameters, result = _models_of(handler)
            declared = TaskDef(
                name=name,
                app=self.name,
                handler=handler,
                parameters=parameters,
                result=result,
                max_attempts=max_attempts,
                timeout_s=timeout_s,
                description=description or inspect.getdoc(handler) or "",
            )
            self.tasks[name] = declared
            return declared

        return declare


def _models_of(handler: Callable[..., Any]) -> tuple[Any, type[BaseModel] | None]:
    """The handler's parameters model and result model (None for a plain dict), by its hints."""
    hints = get_type_hints(handler)
    parameters = list(inspect.signature(handler).parameters)
    if len(parameters) < 2 or parameters[1] not in hints:
        raise TypeError(f"{handler.__qualname__} must take (ctx, params: SomeModel)")
    model = hints[parameters[1]]
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{handler.__qualname__}'s parameters must be a pydantic model")
    returned = hints.get("return")
    result = returned if isinstance(returned, type) and issubclass(returned, BaseModel) else None
    return model, result


async def announce_app(
    js: JetStreamContext, settings: CommonSettings, app: TaskApp, *, only: Collection[str] = ()
) -> None:
    """Enter ``app``'s task types (or those in ``only``) in the catalog of ``settings``.

    Workers do it when they start; a deployment may do it before any worker runs, so the API
    takes the types' tasks from the first minute and they wait PENDING for a worker.
    """
    kv = await catalog_bucket(js, settings.subjects, replicas=settings.stream_replicas)
    for name, spec in app.tasks.items():
        if not only or name in only:
            await announce(kv, spec.info())


class AppNotFound(Exception):
    """``MODULE:APP`` names no importable ``TaskApp``."""


def load_app(target: str) -> TaskApp:
    """The ``TaskApp`` that ``target`` (``package.module:attribute``) names."""
    module_name, _, attribute = target.partition(":")
    # As `python -m` does: the user's own modules, in the directory it runs in, import.
    if "" not in sys.path:
        sys.path.insert(0, "")
    if not module_name or not attribute:
        raise AppNotFound(f"{target!r} is not MODULE:APP (for example myproject.tasks:app)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise AppNotFound(f"cannot import {module_name!r}: {exc}") from exc
    app = getattr(module, attribute, None)
    if not isinstance(app, TaskApp):
        raise AppNotFound(f"{target!r} is not a taskbus.TaskApp (found {type(app).__name__})")
    return app
