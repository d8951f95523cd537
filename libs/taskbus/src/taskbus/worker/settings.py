"""Worker runtime settings (prefix ``WORKER_``), on top of the shared ones."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from taskbus.settings import CommonSettings, default_instance_id


class WorkerSettings(CommonSettings):
    model_config = SettingsConfigDict(env_prefix="WORKER_", extra="ignore", populate_by_name=True)

    concurrency: int = Field(32, ge=1, le=1024)
    """Attempts in flight per process. Small tasks spend most of their time waiting on
    NATS, so more in flight means fewer, fuller round trips (8 → 32: +26 % tasks/s and a
    quarter less nats-server CPU per small task); ``ctx.run_sync`` work shares the default
    thread pool whatever this says. Lower it for handlers holding a scarce resource."""
    ack_wait_s: float = Field(30.0, ge=1.0)
    max_deliver: int = Field(5, ge=2)
    """Deliveries that may start one attempt before it is failed as one that kills workers."""
    shutdown_grace_s: float = Field(10.0, ge=0)
    progress_interval_s: float = Field(1.0, gt=0)
    start_event_after_s: float = Field(0.25, ge=0)
    """An attempt writes its TaskStarted once it has run this long (0: before the handler);
    one that ends sooner writes only its end (taskbus.worker.start)."""
    retry_base_s: float = Field(1.0, ge=0)
    retry_max_s: float = Field(300.0, ge=0)
    result_max_bytes: int = Field(256 * 1024, ge=1024, le=512 * 1024)
    """A larger result is stored as an artifact that the logged result points at."""
    checkpoint_max_bytes: int = Field(64 * 1024, ge=1024, le=512 * 1024)
    """A larger checkpoint fails the task: checkpoints are decoded on every redelivery."""
    worker_id: str = Field(default_factory=default_instance_id)
