"""The NATS connection every service opens, with the reconnect behaviour they all want."""

import asyncio

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.errors import NoServersError

log = structlog.get_logger(__name__)

_FIRST_CONNECT_ATTEMPTS = 60


async def connect_nats(url: str, name: str) -> NATS:
    """Connect (waiting up to about a minute for a server that is still starting) and
    reconnect for ever after a connection is lost."""

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        log.info("nats reconnected")

    async def on_error(exc: Exception) -> None:
        log.warning("nats error", error=str(exc))

    for attempt in range(1, _FIRST_CONNECT_ATTEMPTS + 1):
        try:
            return await nats.connect(
                url,
                name=name,
                connect_timeout=2,
                allow_reconnect=True,
                max_reconnect_attempts=-1,
                reconnect_time_wait=1,
                disconnected_cb=on_disconnect,
                reconnected_cb=on_reconnect,
                error_cb=on_error,
            )
        except (NoServersError, OSError) as exc:
            if attempt == _FIRST_CONNECT_ATTEMPTS:
                raise
            log.warning("nats not reachable yet", attempt=attempt, error=str(exc))
            await asyncio.sleep(1)
    raise AssertionError("unreachable")
