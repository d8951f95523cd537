"""Projector settings (prefix ``PROJECTOR_``), on top of the shared ones."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from taskbus.settings import CommonSettings


class ProjectorSettings(CommonSettings):
    model_config = SettingsConfigDict(
        env_prefix="PROJECTOR_", extra="ignore", populate_by_name=True
    )

    # Events folded per batch when that many are waiting (catching up); a batch writes each
    # task it touches once, so bigger ones write fewer rows per event.
    batch_size: int = Field(10_000, ge=1, le=50_000)
    # Three batches are in hand at once (fetched, folded, being written): this bounds them.
    batch_max_bytes: int = Field(32 * 1024 * 1024, ge=64 * 1024)
    fetch_timeout_s: float = Field(1.0, gt=0)
    # While events arrive faster than linger_above_per_s, a short batch waits linger_s for
    # more (taskbus_projector.pull): fewer commits, NOTIFYs and change-feed queries per event.
    linger_s: float = Field(0.005, ge=0, le=0.1)
    linger_above_per_s: float = Field(500.0, ge=0)
    ack_wait_s: float = Field(60.0, ge=5)
    # Unfinished tasks whose state is kept between batches instead of read back from Postgres.
    state_cache_size: int = Field(10_000, ge=0, le=1_000_000)
    # A leader that cannot renew its lease for this long loses it to a standby.
    lease_ttl_s: float = Field(3.0, ge=1)
    lease_renew_s: float = Field(1.0, gt=0)
    standby_poll_s: float = Field(0.5, gt=0)
