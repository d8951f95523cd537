"""The NATS connection every service opens, with the reconnect behaviour they all want."""

import nats
import structlog
from nats.aio.client import Client as NATS

log = structlog.get_logger(__name__)


async def connect_nats(url: str, name: str) -> NATS:
    """Connect, retrying the first connection too, and reconnect for ever after."""

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    async def on_error(exc: Exception) -> None:
        log.warning("nats error", error=str(exc))

    return await nats.connect(
        url,
        name=name,
        connect_timeout=2,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        retry_on_failed_connect=True,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
    )
