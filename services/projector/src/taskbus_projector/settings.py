"""Projector settings (prefix ``PROJECTOR_``), on top of the shared ones."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from taskbus.settings import CommonSettings


class ProjectorSettings(CommonSettings):
    model_config = SettingsConfigDict(
        env_prefix="PROJECTOR_", extra="ignore", populate_by_name=True
    )

    batch_size: int = Field(2000, ge=1, le=50_000)
    fetch_timeout_s: float = Field(1.0, gt=0)
    ack_wait_s: float = Field(60.0, ge=5)
    # Unfinished tasks whose state is kept between batches instead of read back from Postgres.
    state_cache_size: int = Field(10_000, ge=0, le=1_000_000)
    # A leader that cannot renew its lease for this long loses it to a standby.
    lease_ttl_s: float = Field(3.0, ge=1)
    lease_renew_s: float = Field(1.0, gt=0)
    standby_poll_s: float = Field(0.5, gt=0)
