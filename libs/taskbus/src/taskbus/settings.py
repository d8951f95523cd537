"""Settings shared by every service, read from the environment (the README's settings table).

The shared names (``NATS_URL``, ``DATABASE_URL``, ``SMTP_*``, ...) are unprefixed so one
environment configures the whole system; a service's own knobs carry its prefix.
"""

import os
import socket

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from taskbus.subjects import Subjects


def default_instance_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class NatsCredentials(BaseSettings):
    """Who a service is to NATS: ``NATS_USER`` and ``NATS_PASSWORD``, the nats CLI's names.

    Unset, the connection is anonymous (a server without authorization). They are kept out of
    ``NATS_URL``, whose servers end up in log lines (docs/design.md, "Threat model").
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    user: str | None = Field(None, validation_alias="NATS_USER")
    password: SecretStr | None = Field(None, validation_alias="NATS_PASSWORD")


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    nats_url: str = Field("nats://127.0.0.1:4222", validation_alias="NATS_URL")
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/taskbus", validation_alias="DATABASE_URL"
    )
    namespace: str = Field(
        "", validation_alias="TASKBUS_NAMESPACE", pattern="^([a-z][a-z0-9]{0,30})?$"
    )
    readmodel_schema: str = Field(
        "taskbus", validation_alias="READMODEL_SCHEMA", pattern="^[a-z_][a-z0-9_]{0,40}$"
    )
    # Probes are scraped from outside the process (kubelet, Prometheus), so listen widely.
    health_host: str = Field("0.0.0.0", validation_alias="HEALTH_HOST")
    health_port: int | None = Field(
        None, ge=1, le=65535, validation_alias="HEALTH_PORT", description="unset: no probe port"
    )
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    log_format: str = Field("json", validation_alias="LOG_FORMAT", pattern="^(json|console)$")
    stream_replicas: int = Field(1, ge=1, le=5, validation_alias="NATS_STREAM_REPLICAS")
    duplicate_window_s: float = Field(120.0, gt=0, validation_alias="NATS_DUPLICATE_WINDOW_S")
    files_max_bytes: int = Field(1024**3, ge=1, validation_alias="FILES_MAX_BYTES")
    """The file bucket's cap, set when the bucket is created (uploads then get 507). JetStream
    reserves it on the server's store for good, one bucket per namespace: hence modest."""

    @property
    def subjects(self) -> Subjects:
        return Subjects(self.namespace)
