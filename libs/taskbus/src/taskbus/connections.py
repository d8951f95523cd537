"""The NATS connection every service opens, with the reconnect behaviour they all want."""

from urllib.parse import urlsplit

import nats
import structlog
from nats.aio.client import Client as NATS
from nats.errors import (
    ConnectionClosedError,
    ConnectionReconnectingError,
    NoRespondersError,
    OutboundBufferLimitError,
    StaleConnectionError,
)
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.errors import NoStreamResponseError, ServiceUnavailableError

from taskbus.settings import NatsCredentials

log = structlog.get_logger(__name__)

NATS_UNAVAILABLE: tuple[type[Exception], ...] = (
    ConnectionClosedError,
    ConnectionReconnectingError,
    NoRespondersError,
    # A JetStream publish's NoRespondersError: no leader of the stream answered (an election).
    NoStreamResponseError,
    NatsTimeoutError,
    OutboundBufferLimitError,
    ServiceUnavailableError,
    StaleConnectionError,
    TimeoutError,
)
"""What a call raises while NATS or JetStream is out of reach (a restart, a rolling upgrade,
a stream leader's election in a cluster).

The client reconnects on its own, so a service that catches these waits and tries again
rather than exiting."""

NATS_RETRY_S = 1.0
"""How long a loop that met :data:`NATS_UNAVAILABLE` waits before trying again."""

_PING_INTERVAL_S = 3
_MAX_OUTSTANDING_PINGS = 2


def nats_servers(url: str) -> list[str]:
    """The servers a ``NATS_URL`` names: one URL, or several joined by commas as every NATS
    client takes them (``nats://a:4222,nats://b:4222``); raises ValueError on a malformed list."""
    servers = [part.strip() for part in url.split(",")]
    for position, server in enumerate(servers, start=1):
        if not _is_server_url(server):
            raise ValueError(
                f"NATS_URL {url!r}: server {position} of {len(servers)} ({server!r}) is not a "
                "URL like nats://host:4222; separate servers with commas"
            )
    return servers


def _is_server_url(server: str) -> bool:
    # nats-py also takes host:port and a bare host, and reports any error without saying which
    # server of the list it is about.
    if not server or any(char.isspace() for char in server):
        return False
    try:
        parts = urlsplit(server if "://" in server else f"nats://{server}")
        parts.port  # noqa: B018 - raises ValueError when the port is not a number
    except ValueError:
        return False
    return bool(parts.hostname)


async def connect_nats(url: str, name: str, credentials: NatsCredentials | None = None) -> NATS:
    """Connect to any server of ``url`` (see :func:`nats_servers`) that answers, waiting for
    one to start if none does, and reconnect for ever, to any of them, after a loss.

    ``credentials`` default to the environment's (``NATS_USER``, ``NATS_PASSWORD``), so every
    service logs in as the user its deployment gave it without each passing them along.
    """
    credentials = credentials or NatsCredentials()
    password = credentials.password.get_secret_value() if credentials.password else None

    async def on_disconnect() -> None:
        log.warning("nats disconnected")

    async def on_reconnect() -> None:
        server = nc.connected_url.netloc if nc.connected_url else None
        log.info("nats reconnected", server=server)

    async def on_error(exc: Exception) -> None:
        log.warning("nats error", error=str(exc))

    # With max_reconnect_attempts=-1 nats-py cycles through every server of the list (and those
    # the cluster announces) for as long as it takes, on the first connect as after a loss.
    nc: NATS = await nats.connect(
        servers=nats_servers(url),
        name=name,
        user=credentials.user,
        password=password,
        connect_timeout=2,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        # A server that hangs (a frozen VM, a partition) keeps its socket open: without PONGs
        # for about 10 s the client gives up on it and moves on (nats-py's default: 6 minutes).
        ping_interval=_PING_INTERVAL_S,
        max_outstanding_pings=_MAX_OUTSTANDING_PINGS,
        disconnected_cb=on_disconnect,
        reconnected_cb=on_reconnect,
        error_cb=on_error,
    )
    return nc


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
