"""Loopback ports for the local servers: the preferred one when it is free, any free one if not."""

import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A port nothing listens on right now (another process may still take it before we do)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could bind ``port`` on ``host`` now."""
    with socket.socket() as sock:
        # The servers bind with SO_REUSEADDR, so a port held only by TIME_WAIT counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def choose_port(preferred: int | None, host: str = LOOPBACK) -> int:
    """``preferred`` when it is given and free, otherwise a free port."""
    if preferred is not None and port_is_free(preferred, host):
        return preferred
    return free_port(host)


def accepts_connections(port: int, host: str = LOOPBACK) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
