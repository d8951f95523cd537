"""The NATS connection every service opens, with the reconnect behaviour they all want."""

import asyncio

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.errors import (
    ConnectionClosedError,
    ConnectionReconnectingError,
    NoRespondersError,
    NoServersError,
    OutboundBufferLimitError,
    StaleConnectionError,
)
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import ServiceUnavailableError

log = structlog.get_logger(__name__)

_FIRST_CONNECT_ATTEMPTS = 60

NATS_UNAVAILABLE: tuple[type[Exception], ...] = (
    ConnectionClosedError,
    ConnectionReconnectingError,
    NoRespondersError,
    NatsTimeoutError,
    OutboundBufferLimitError,
    ServiceUnavailableError,
    StaleConnectionError,
    TimeoutError,
)
"""What a call raises while NATS or JetStream is out of reach (a restart, a rolling upgrade).

The client reconnects on its own, so a service that catches these waits and tries again
rather than exiting."""

NATS_RETRY_S = 1.0
"""How long a loop that met :data:`NATS_UNAVAILABLE` waits before trying again."""


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


async def close_nats(nc: NATS) -> None:
    """Drain a connected client; one that lost its server can only be closed."""
    try:
        if nc.is_connected:
            await nc.drain()
            return
    except NATS_UNAVAILABLE as exc:
        log.warning("nats drain failed; closing", error=str(exc))
    try:
        await nc.close()
    except RuntimeError as exc:
        # nats-py flushes what it buffered while reconnecting into the transport it already
        # lost; that data was never going to arrive, and the client is closed regardless.
        log.warning("nats close lost buffered messages", error=str(exc))
