"""Each task type's parameters: validated by the API on submit and again by its worker.

Models forbid unknown fields so a typo is a 422 naming the field, not a silent default.
"""

from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from taskbus.tasks import TaskType

# Every character Python's email package treats as a line break, not only CR and LF.
HeaderText = Annotated[
    str,
    StringConstraints(max_length=998, pattern=r"^[^\r\n\v\f\x1c-\x1e\x85\u2028\u2029]*$"),
]


def _email_address(value: str) -> str:
    # test_environment admits the reserved ``.test`` domain the synthetic recipients use.
    try:
        return validate_email(value, check_deliverability=False, test_environment=True).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


EmailAddress = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email_address)]
# The store's ids are UUIDs (36 characters); the bound keeps a wrong one's error message short.
FileId = Annotated[str, StringConstraints(min_length=1, max_length=64)]

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


def _default_to_synthetic(data: Any, uploaded: str, synthetic: str, size: int) -> Any:
    """With neither uploaded inputs nor a synthetic size, work on a small synthetic input."""
    if isinstance(data, dict) and data.get(uploaded) is None and data.get(synthetic) is None:
        return {**data, synthetic: size}
    return data


def _refuse_both(model: BaseModel, uploaded: str, synthetic: str) -> None:
    if getattr(model, uploaded) is not None and getattr(model, synthetic) is not None:
        raise ValueError(f"give either {uploaded} or {synthetic}, not both")


class _Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CsvParameters(_Parameters):
    file_id: FileId | None = Field(None, description="An uploaded CSV (POST /api/files).")
    num_rows: int | None = Field(
        None, ge=1, le=5_000_000, description="Rows of deterministic synthetic data."
    )
    seed: int = Field(0, description="Seed of the synthetic data.")
    processing_time: float = Field(0.0, ge=0, le=3600, description="Pacing, in seconds.")
    # None, not ",": a default would be stored with the task and the file never sniffed.
    delimiter: str | None = Field(
        None, min_length=1, max_length=1, description="Guessed from the file when not given."
    )
    encoding: Literal["utf8", "utf8-lossy"] = "utf8"
    has_header: bool = True

    @model_validator(mode="before")
    @classmethod
    def _default_source(cls, data: Any) -> Any:
        return _default_to_synthetic(data, "file_id", "num_rows", 1000)

    @model_validator(mode="after")
    def _one_source(self) -> "CsvParameters":
        _refuse_both(self, "file_id", "num_rows")
        return self


class Recipient(_Parameters):
    email: EmailAddress
    name: HeaderText = ""


class EmailParameters(_Parameters):
    recipients: list[Recipient | EmailAddress] | None = Field(None, min_length=1, max_length=10_000)
    num_emails: int | None = Field(None, ge=1, le=10_000)
    subject: HeaderText = "Hello from taskbus"
    body: str = Field("Hello {name},\n\nThis message was sent by taskbus.\n", max_length=100_000)
    delay_per_email: float = Field(0.0, ge=0, le=60)

    @model_validator(mode="before")
    @classmethod
    def _default_source(cls, data: Any) -> Any:
        return _default_to_synthetic(data, "recipients", "num_emails", 1)

    @model_validator(mode="after")
    def _one_source(self) -> "EmailParameters":
        _refuse_both(self, "recipients", "num_emails")
        return self

    def recipient_list(self) -> list[Recipient]:
        """Every recipient as an object; synthetic ones are ``user{i}@example.test``."""
        if self.recipients is None:
            return [
                Recipient(email=f"user{i}@example.test", name=f"User {i}")
                for i in range(1, (self.num_emails or 0) + 1)
            ]
        return [r if isinstance(r, Recipient) else Recipient(email=r) for r in self.recipients]


class ImageParameters(_Parameters):
    file_ids: list[FileId] | None = Field(None, min_length=1, max_length=500)
    num_images: int | None = Field(None, ge=1, le=100)
    target_width: int = Field(320, ge=1, le=10_000)
    target_height: int = Field(320, ge=1, le=10_000)
    mode: Literal["fit", "fill"] = "fit"
    format: Literal["JPEG", "PNG", "WEBP"] = "JPEG"

    @model_validator(mode="before")
    @classmethod
    def _default_source(cls, data: Any) -> Any:
        return _default_to_synthetic(data, "file_ids", "num_images", 1)

    @model_validator(mode="after")
    def _one_source(self) -> "ImageParameters":
        _refuse_both(self, "file_ids", "num_images")
        return self


PARAMETER_MODELS: dict[TaskType, type[_Parameters]] = {
    TaskType.CSV_PROCESSING: CsvParameters,
    TaskType.EMAIL_SENDING: EmailParameters,
    TaskType.IMAGE_PROCESSING: ImageParameters,
}


def validate_parameters(task_type: TaskType, raw: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise ``raw`` for ``task_type``; raises pydantic's ValidationError."""
    model = PARAMETER_MODELS[task_type].model_validate(raw)
    return model.model_dump(mode="json", exclude_none=True)
