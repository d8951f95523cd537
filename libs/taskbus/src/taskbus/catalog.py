"""The catalog of task types: what each worker announces of the types it serves.

A JetStream key-value bucket, one key per type holding its ``TaskTypeInfo``. A bucket
rather than events in the log: the catalog is current state that each worker replaces when
it starts (a new version of a type supersedes the old), readers want the latest entry per
type, not a history to fold, and a KV watch gives the API every change as it happens.
Entries never expire: a type whose workers are all stopped stays known, and its tasks wait
PENDING for a worker, as a Celery queue does (docs/design.md, "Task types").
"""

import hashlib
import json
from typing import Any

import structlog
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue
from pydantic import BaseModel, ConfigDict, ValidationError

from taskbus.subjects import Subjects
from taskbus.tasks import TaskTypeName

log = structlog.get_logger(__name__)

FILE_FORMAT = "taskbus-file"
"""The JSON Schema ``format`` of a parameter naming an uploaded file."""
ACCEPT_KEY = "x-taskbus-accept"
"""The JSON Schema keyword listing the content types a file parameter takes."""
EXPECTED_KEY = "x-taskbus-expected"
"""The JSON Schema keyword naming what a ``pattern`` stands for, for its error message."""


class FileField(BaseModel):
    """A parameter naming uploaded files: the API checks them, the UI offers an upload."""

    model_config = ConfigDict(frozen=True)

    name: str
    multiple: bool
    accept: list[str]
    """Content types the field takes; empty: any the API accepts."""


class TaskTypeInfo(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: TaskTypeName
    app: str
    description: str
    parameters_schema: dict[str, Any]
    result_schema: dict[str, Any] | None
    max_attempts: int
    timeout_s: float | None
    file_fields: list[FileField]
    version: str
    """Changes whenever the schemas or defaults do."""


class CatalogEntry(TaskTypeInfo):
    """A type as ``GET /api/task-types`` lists it: the catalog's entry and who serves it."""

    workers: int
    """Live worker processes serving the type; 0: its tasks wait PENDING for one."""


def schema_version(*parts: Any) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def file_fields(parameters_schema: dict[str, Any]) -> list[FileField]:
    """The top-level parameters that are ``FileRef``, or lists of them, with what they take."""
    fields: list[FileField] = []
    for name, schema in parameters_schema.get("properties", {}).items():
        for variant in [schema, *schema.get("anyOf", ())]:
            if variant.get("format") == FILE_FORMAT:
                fields.append(FileField(name=name, multiple=False, accept=_accept(variant)))
                break
            items = variant.get("items", {})
            if variant.get("type") == "array" and items.get("format") == FILE_FORMAT:
                fields.append(FileField(name=name, multiple=True, accept=_accept(items)))
                break
    return fields


def _accept(schema: dict[str, Any]) -> list[str]:
    return list(schema.get(ACCEPT_KEY, ()))


async def catalog_bucket(js: JetStreamContext, subjects: Subjects, *, replicas: int) -> KeyValue:
    try:
        return await js.key_value(subjects.catalog_bucket)
    except BucketNotFoundError:
        return await js.create_key_value(
            bucket=subjects.catalog_bucket, history=1, replicas=replicas
        )


async def announce(kv: KeyValue, info: TaskTypeInfo) -> None:
    """Publish ``info`` as its type's entry, unless the catalog holds this version already."""
    try:
        entry = await kv.get(info.name)
    except KeyNotFoundError:
        entry = None
    if entry is not None and entry.value and _parse(info.name, entry.value) == info:
        return
    await kv.put(info.name, info.model_dump_json().encode())
    log.info("task type announced", task_type=info.name, version=info.version)


async def read_catalog(kv: KeyValue) -> dict[str, TaskTypeInfo]:
    """Every announced type, by name."""
    try:
        keys = await kv.keys()
    except NoKeysError:
        return {}
    types: dict[str, TaskTypeInfo] = {}
    for key in keys:
        try:
            entry = await kv.get(key)
        except KeyNotFoundError:
            continue
        if entry.value and (info := _parse(key, entry.value)) is not None:
            types[info.name] = info
    return types


def _parse(key: str, value: bytes) -> TaskTypeInfo | None:
    try:
        return TaskTypeInfo.model_validate_json(value)
    except ValidationError as exc:
        log.warning("ignoring a malformed catalog entry", key=key, error=str(exc))
        return None
