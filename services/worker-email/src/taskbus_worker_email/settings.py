"""worker-email settings: the worker runtime's plus the SMTP server (unprefixed)."""

from email.utils import parseaddr

from pydantic import Field, SecretStr, field_validator
from taskbus.worker import WorkerSettings


class EmailWorkerSettings(WorkerSettings):
    smtp_host: str = Field("127.0.0.1", validation_alias="SMTP_HOST")
    smtp_port: int = Field(1025, ge=1, le=65535, validation_alias="SMTP_PORT")
    smtp_username: str | None = Field(None, validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(None, validation_alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(False, validation_alias="SMTP_STARTTLS")
    smtp_from: str = Field("taskbus@localhost", validation_alias="SMTP_FROM", pattern=r"^[^\r\n]+$")
    smtp_timeout_s: float = Field(30.0, gt=0, validation_alias="SMTP_TIMEOUT_S")

    @field_validator("smtp_from")
    @classmethod
    def _has_address(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError("SMTP_FROM needs an address, e.g. 'Reports <reports@example.com>'")
        return value

    @property
    def envelope_sender(self) -> str:
        """The bare address of ``smtp_from``, for the SMTP ``MAIL FROM`` command."""
        return parseaddr(self.smtp_from)[1]
