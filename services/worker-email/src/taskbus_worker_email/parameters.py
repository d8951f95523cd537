"""``email_sending`` parameters: recipients (or synthetic ones), subject and body templates."""

from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from taskbus.catalog import EXPECTED_KEY
from taskbus.parameters import (
    Parameters,
    default_to_synthetic,
    one_source_schema,
    refuse_both,
)

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


EmailAddress = Annotated[
    str,
    StringConstraints(max_length=320),
    AfterValidator(_email_address),
    # What the API can check before the worker does (email_validator is the authority).
    WithJsonSchema(
        {
            "type": "string",
            "maxLength": 320,
            "pattern": r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
            EXPECTED_KEY: "an email address",
        }
    ),
]


class Recipient(Parameters):
    email: EmailAddress
    name: HeaderText = ""


class EmailParameters(Parameters):
    model_config = ConfigDict(json_schema_extra=one_source_schema("recipients", "num_emails"))

    recipients: list[Recipient | EmailAddress] | None = Field(None, min_length=1, max_length=10_000)
    num_emails: int | None = Field(None, ge=1, le=10_000)
    subject: HeaderText = "Hello from taskbus"
    body: str = Field("Hello {name},\n\nThis message was sent by taskbus.\n", max_length=100_000)
    delay_per_email: float = Field(0.0, ge=0, le=60)

    @model_validator(mode="before")
    @classmethod
    def _default_source(cls, data: Any) -> Any:
        return default_to_synthetic(data, "recipients", "num_emails", 1)

    @model_validator(mode="after")
    def _one_source(self) -> "EmailParameters":
        refuse_both(self, "recipients", "num_emails")
        return self

    def recipient_list(self) -> list[Recipient]:
        """Every recipient as an object; synthetic ones are ``user{i}@example.test``."""
        if self.recipients is None:
            return [
                Recipient(email=f"user{i}@example.test", name=f"User {i}")
                for i in range(1, (self.num_emails or 0) + 1)
            ]
        return [r if isinstance(r, Recipient) else Recipient(email=r) for r in self.recipients]
