"""What ``make up`` reads from the environment."""

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from taskbus.connections import nats_servers

DEFAULT_NATS_PORT = 4222
DEFAULT_NATS_MONITOR_PORT = 8222
# Cluster members take the ports after these: 4222, 4223, 4224 for clients, and so on.
DEFAULT_NATS_CLUSTER_PORT = 6222
DEFAULT_POSTGRES_PORT = 5432
DEFAULT_SMTP_PORT = 1025


class DevSettings(BaseSettings):
    """A server whose URL is given is used as it is; one that is not is started locally."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    port: int = Field(8000, ge=1, le=65535, validation_alias="PORT")
    data_dir: Path = Field(Path(".data"), validation_alias="DATA_DIR")
    nats_url: str | None = Field(None, validation_alias="NATS_URL")
    nats_cluster_size: int = Field(
        1, ge=1, le=5, validation_alias="NATS_CLUSTER_SIZE", description="servers to start"
    )
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    smtp_host: str | None = Field(None, validation_alias="SMTP_HOST")
    apps: str = Field(
        "",
        validation_alias="TASKBUS_APPS",
        description="your own apps to serve beside the built-ins: MODULE:APP, comma-separated",
    )

    @property
    def app_targets(self) -> list[str]:
        return [target.strip() for target in self.apps.split(",") if target.strip()]

    @property
    def starts_nats_cluster(self) -> bool:
        """No NATS is given and more than one server is asked for."""
        return self.nats_url is None and self.nats_cluster_size > 1

    @field_validator("nats_url")
    @classmethod
    def _servers_listed(cls, url: str | None) -> str | None:
        """A malformed list is refused here, not by five services crashing in a loop."""
        if url is not None:
            nats_servers(url)
        return url
