"""API settings (prefix ``API_`` for its own knobs; shared names unprefixed)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from taskbus.settings import CommonSettings

# services/api/src/taskbus_api/settings.py -> the repository root holds web/.
_REPO_WEB_DIR = Path(__file__).resolve().parents[4] / "web"


class ApiSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="API_", extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", validation_alias="HOST")
    port: int = Field(8000, ge=1, le=65535, validation_alias="PORT")
    api_key: str | None = Field(None, validation_alias="API_KEY")
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
