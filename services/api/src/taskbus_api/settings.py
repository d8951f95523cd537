"""API settings (prefix ``API_`` for its own knobs; shared names unprefixed)."""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from taskbus.settings import CommonSettings

# services/api/src/taskbus_api/settings.py -> the repository root holds web/.
_REPO_WEB_DIR = Path(__file__).resolve().parents[4] / "web"


class ApiSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="API_", extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", validation_alias="HOST")
    port: int = Field(8000, ge=1, le=65535, validation_alias="PORT")
    api_key: str | None = Field(None, validation_alias="API_KEY")
    """The single key of before named keys: an admin key named ``admin``."""
    api_keys: str | None = Field(None, validation_alias="TASKBUS_API_KEYS")
    """``name:role:sha256hex`` entries, comma- or newline-separated (taskbus_api.keys)."""
    api_keys_file: Path | None = Field(None, validation_alias="TASKBUS_API_KEYS_FILE")
    allowed_hosts: str = "localhost,127.0.0.1,[::1]"
    """Host names the API answers for, comma-separated (``*.example.com``, or ``*`` for any)."""
    session_secret: SecretStr | None = None
    """Signs session cookies; every replica needs the same one (unset: one per process)."""
    session_ttl_s: int = Field(12 * 3600, ge=60)
    command_rate_limit: str = "20/second;600/minute"
    """Commands one key may send to one replica (``limits`` notation), then 429."""
    max_streams_per_key: int = Field(20, ge=1)
    web_dir: Path = Field(_REPO_WEB_DIR, validation_alias="WEB_DIR")
    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_upload_bytes: int = Field(2 * 1024**3, ge=1)
    """The largest file ``POST /api/files`` takes (``API_MAX_UPLOAD_BYTES``)."""
    sse_ping_s: float = Field(15.0, gt=0)
    sse_send_timeout_s: float = Field(10.0, gt=0)
    """An SSE client that takes longer to accept an event is dropped (it stopped reading)."""
    max_wait_s: float = Field(30.0, ge=0)
    db_timeout_s: float = Field(1.0, gt=0)
    """Longest wait for Postgres per step (connect, each statement, release): then 503."""
    read_wait_s: float = Field(5.0, gt=0)
    """Longest a list waits for the read model to include every command before it: then 503."""
    projector_stall_s: float = Field(15.0, gt=0)
    """A projector behind the log that made no progress for this long makes health 503."""

    @property
    def allowed_host_list(self) -> list[str]:
        return [host.strip() for host in self.allowed_hosts.split(",") if host.strip()]
