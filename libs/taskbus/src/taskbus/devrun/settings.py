"""What ``make up`` reads from the environment (DESIGN §3)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_NATS_PORT = 4222
DEFAULT_NATS_MONITOR_PORT = 8222
DEFAULT_POSTGRES_PORT = 5432
DEFAULT_SMTP_PORT = 1025


class DevSettings(BaseSettings):
    """A server whose URL is given is used as it is; one that is not is started locally."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    port: int = Field(8000, ge=1, le=65535, validation_alias="PORT")
    data_dir: Path = Field(Path(".data"), validation_alias="DATA_DIR")
    nats_url: str | None = Field(None, validation_alias="NATS_URL")
    database_url: str | None = Field(None, validation_alias="DATABASE_URL")
    smtp_host: str | None = Field(None, validation_alias="SMTP_HOST")
