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

HeaderText = Annotated[str, StringConstraints(max_length=998, pattern=r"^[^\r\n]*$")]


def _email_address(value: str) -> str:
    # test_environment admits the reserved ``.test`` domain the synthetic recipients use.
    try:
        return validate_email(value, check_deliverability=False, test_environment=True).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


EmailAddress = Annotated[str, StringConstraints(max_length=320), AfterValidator(_email_address)]


class _Parameters(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CsvParameters(_Parameters):
    file_id: str | None = Field(None, description="An uploaded CSV (POST /api/files).")
    num_rows: int | None = Field(
        None, ge=1, le=5_000_000, description="Rows of deterministic synthetic data."
    )
    seed: int = Field(0, description="Seed of the synthetic data.")
    processing_time: float = Field(0.0, ge=0, le=3600, description="Pacing, in seconds.")
    delimiter: str = Field(",", min_length=1, max_length=1)
    encoding: Literal["utf8", "utf8-lossy"] = "utf8"
    has_header: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> "CsvParameters":
        if self.file_id is None and self.num_rows is None:
            return self.model_copy(update={"num_rows": 1000})
        if self.file_id is not None and self.num_rows is not None:
            raise ValueError("give either file_id or num_rows, not both")
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

    @model_validator(mode="after")
    def _one_source(self) -> "EmailParameters":
        if self.recipients is None and self.num_emails is None:
            return self.model_copy(update={"num_emails": 1})
        if self.recipients is not None and self.num_emails is not None:
            raise ValueError("give either recipients or num_emails, not both")
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
    file_ids: list[str] | None = Field(None, min_length=1, max_length=500)
    num_images: int | None = Field(None, ge=1, le=100)
    target_width: int = Field(320, ge=1, le=10_000)
    target_height: int = Field(320, ge=1, le=10_000)
    mode: Literal["fit", "fill"] = "fit"
    format: Literal["JPEG", "PNG", "WEBP"] = "JPEG"

    @model_validator(mode="after")
    def _one_source(self) -> "ImageParameters":
        if self.file_ids is None and self.num_images is None:
            return self.model_copy(update={"num_images": 1})
        if self.file_ids is not None and self.num_images is not None:
            raise ValueError("give either file_ids or num_images, not both")
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
