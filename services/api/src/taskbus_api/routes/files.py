"""``/api/files``: upload task inputs, download inputs and produced artifacts.

Uploads stream from the request into the file store. What a file may be is decided per use:
each task type that takes files accepts a few content types; an upload may name its use
(``?purpose=csv_processing``) to be checked against that type's list, and a task is only
accepted with input files of a type it takes.
"""

import mimetypes
import re
import unicodedata
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from taskbus.catalog import TaskTypeInfo
from taskbus.files import FileInfo, FileNotFound, FileStore, FileStoreFull
from taskbus.tasks import TaskTypeName

from taskbus_api.access import Operator, Reader
from taskbus_api.deps import ResourcesDep
from taskbus_api.errors import ApiError, NotFound, brief
from taskbus_api.multipart import MultipartFile, UnsupportedUpload, UploadTooLarge

router = APIRouter(prefix="/api/files", tags=["files"])

UPLOADABLE = frozenset(
    {
        "text/csv",
        "text/plain",
        "text/tab-separated-values",
        "application/vnd.ms-excel",
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "image/bmp",
    }
)
"""What an upload may be when no task type narrows it, and what a ``FileRef`` that names no
content types takes. Excel's CSV type is listed because Windows browsers send it for every
``.csv`` file."""
_GENERIC_TYPES = frozenset({"", "application/octet-stream"})
# Multipart framing around the file: boundaries and part headers.
_FRAMING_BYTES = 64 * 1024
_UNSAFE_IN_NAME = re.compile(r'[\x00-\x1f\x7f/\\"<>:|?*]+')
_MAX_NAME = 200


class StoreFull(ApiError):
    """The file bucket is at ``FILES_MAX_BYTES``."""

    status_code = 507


class FileOut(BaseModel):
    file_id: str
    name: str
    size: int
    content_type: str

    @classmethod
    def of(cls, info: FileInfo) -> "FileOut":
        return cls(
            file_id=info.file_id, name=info.name, size=info.size, content_type=info.content_type
        )


def display_name(filename: str) -> str:
    """The uploader's file name made safe to show and to offer back in a download."""
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_IN_NAME.sub("_", name).strip(" .")
    return name[:_MAX_NAME] or "upload"


def content_type_of(declared: str, filename: str) -> str:
    """The declared type without parameters; guessed from the extension when generic."""
    media_type = declared.split(";", 1)[0].strip().lower()
    if media_type in _GENERIC_TYPES:
        media_type = mimetypes.guess_type(filename, strict=False)[0] or "application/octet-stream"
    return media_type


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII fallback and the exact name as RFC 6266 ``filename*``."""
    fallback = name.encode("ascii", "replace").decode().replace("?", "_").replace("%", "_")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.post("", status_code=status.HTTP_201_CREATED, response_model=FileOut)
async def upload_file(
    request: Request,
    resources: ResourcesDep,
    _: Operator,
    purpose: Annotated[
        TaskTypeName | None,
        Query(description="The task type the file is for; narrows its types."),
    ] = None,
) -> FileOut:
    """Store the multipart field ``file``; 413 past the size limit, 415 for a type not taken,
    507 when the file store is full."""
    limit = resources.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    size = int(declared) if declared is not None and declared.isdigit() else None
    if size is not None and size > limit + _FRAMING_BYTES:
        raise UploadTooLarge(f"the file is larger than the limit of {limit:,} bytes")
    free = await resources.files.free_bytes()
    if free is not None and (free == 0 or (size is not None and size > free + _FRAMING_BYTES)):
        raise StoreFull(_full_message(free))
    upload = MultipartFile(request, "file", max_bytes=limit)
    await upload.start()
    name = display_name(upload.filename)
    content_type = content_type_of(upload.content_type, name)
    accepted = _accepted_for(resources.task_types.get(purpose)) if purpose else UPLOADABLE
    if content_type not in accepted:
        use = "any task" if purpose is None else purpose
        listed = ", ".join(sorted(accepted)) or "no files"
        raise UnsupportedUpload(
            f"{brief(content_type)} is not accepted for {use}; accepted: {listed}"
        )
    try:
        info = await resources.files.put(upload.chunks(), name=name, content_type=content_type)
    except FileStoreFull:
        raise StoreFull(_full_message(0)) from None
    return FileOut.of(info)


def _full_message(free: int) -> str:
    return f"the file store is full: {free:,} bytes free under its cap (FILES_MAX_BYTES)"


@router.get("/{file_id}", response_class=StreamingResponse)
async def download_file(file_id: UUID, resources: ResourcesDep, _: Reader) -> StreamingResponse:
    """The file's bytes, as an attachment; 404 when no file has that id."""
    try:
        reader = await resources.files.open(str(file_id))
    except FileNotFound:
        raise NotFound(f"no file with id {file_id}") from None
    info = reader.info
    return StreamingResponse(
        reader,
        media_type=info.content_type,
        headers={
            "Content-Length": str(info.size),
            "Content-Disposition": content_disposition(info.name),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        },
    )


def _accepted_for(task_type: TaskTypeInfo | None) -> frozenset[str]:
    """What ``task_type``'s file parameters take together (nothing for an unknown type)."""
    if task_type is None:
        return frozenset()
    return frozenset().union(*(field.accept or UPLOADABLE for field in task_type.file_fields))


def _file_references(
    task_type: TaskTypeInfo, parameters: dict[str, Any]
) -> list[tuple[tuple[str | int, ...], str, frozenset[str]]]:
    references: list[tuple[tuple[str | int, ...], str, frozenset[str]]] = []
    for field in task_type.file_fields:
        value = parameters.get(field.name)
        accepted = frozenset(field.accept) or UPLOADABLE
        if field.multiple and isinstance(value, list):
            references.extend(((field.name, i), item, accepted) for i, item in enumerate(value))
        elif not field.multiple and isinstance(value, str):
            references.append(((field.name,), value, accepted))
    return references


async def check_file_inputs(
    files: FileStore, task_type: TaskTypeInfo, parameters: dict[str, Any]
) -> None:
    """Every file a task names must exist and be of a type its parameter takes (else 422).

    ``parameters`` fit the type's schema: a file parameter is a short string or a bounded
    list of them.
    """
    errors = []
    for location, file_id, accepted in _file_references(task_type, parameters):
        try:
            info = await files.info(file_id)
        except FileNotFound:
            problem = f"no uploaded file with id {file_id!r}"
        else:
            if info.content_type in accepted:
                continue
            problem = f"file {file_id} is {info.content_type}; {task_type.name} takes " + (
                ", ".join(sorted(accepted))
            )
        errors.append(
            {"loc": ("body", "parameters", *location), "msg": problem, "type": "file_input"}
        )
    if errors:
        raise RequestValidationError(errors)
