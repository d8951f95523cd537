"""``NATS_URL`` as one server or a comma-separated list: parsed once, connected, failed over."""

import asyncio
import os
import signal
from pathlib import Path

import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from taskbus.connections import NATS_UNAVAILABLE, close_nats, connect_nats, nats_servers
from taskbus.devrun.nats import start_nats
from taskbus.devrun.ports import free_port

WAIT_S = 30.0


def test_one_url_is_a_list_of_one() -> None:
    assert nats_servers("nats://127.0.0.1:4222") == ["nats://127.0.0.1:4222"]


def test_a_list_is_split_and_stripped() -> None:
    url = " nats://10.0.0.1:4222, nats://10.0.0.2:4222 ,tls://10.0.0.3,nats-3:4222 "

    assert nats_servers(url) == [
        "nats://10.0.0.1:4222",
        "nats://10.0.0.2:4222",
        "tls://10.0.0.3",
        "nats-3:4222",
    ]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("", "server 1 of 1 ('')"),
        ("nats://a:4222,,nats://b:4222", "server 2 of 3 ('')"),
        ("nats://a:4222,", "server 2 of 2 ('')"),
        ("nats://a:4222 nats://b:4222", "server 1 of 1 ('nats://a:4222 nats://b:4222')"),
        ("nats://a:4222;nats://b:4222", "server 1 of 1"),
        ("nats://a:4222,nats://:4222", "server 2 of 2 ('nats://:4222')"),
    ],
)
def test_a_malformed_list_says_which_server_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ValueError, match="separate servers with commas") as raised:
        nats_servers(url)

    assert says in str(raised.value)


async def test_connect_refuses_a_malformed_list_at_once() -> None:
    """Not a retry loop for ever: the services exit with the reason."""
    async with asyncio.timeout(1):
        with pytest.raises(ValueError, match=r"server 2 of 2"):
            await connect_nats("nats://127.0.0.1:4222,", name="test")


async def test_connect_skips_servers_that_are_down(nats_url: str) -> None:
    # The client tries the servers in random order: two dead ones make it likely one is first.
    dead = [f"nats://127.0.0.1:{free_port()}" for _ in range(2)]
    nc = await connect_nats(",".join([*dead, nats_url]), name="test")
    try:
        assert nc.connected_url is not None
        assert f"nats://{nc.connected_url.netloc}" == nats_url
        assert await nc.request("$JS.API.INFO", b"", timeout=5)
    finally:
        await close_nats(nc)


async def test_a_client_fails_over_when_its_server_dies(tmp_path: Path) -> None:
    first = start_nats(tmp_path / "first")
    second = start_nats(tmp_path / "second")
    nc = await connect_nats(f"{first.url}, {second.url}", name="test")
    try:
        on = first if _connected_port(nc) == first.port else second
        other = second if on is first else first

        on.stop()
        async with asyncio.timeout(WAIT_S):
            reply = await _answered(nc)

        assert reply.data
        assert _connected_port(nc) == other.port
    finally:
        await close_nats(nc)
        first.stop()
        second.stop()


async def test_a_client_leaves_a_server_that_hangs(tmp_path: Path) -> None:
    """SIGSTOP keeps the socket open: only the missing PONGs tell the client to move."""
    first = start_nats(tmp_path / "first")
    second = start_nats(tmp_path / "second")
    nc = await connect_nats(f"{first.url},{second.url}", name="test")
    hung = first if _connected_port(nc) == first.port else second
    other = second if hung is first else first
    os.killpg(hung.process.pid, signal.SIGSTOP)
    try:
        async with asyncio.timeout(WAIT_S):
            reply = await _answered(nc)

        assert reply.data
        assert _connected_port(nc) == other.port
    finally:
        os.killpg(hung.process.pid, signal.SIGCONT)
        await close_nats(nc)
        first.stop()
        second.stop()


async def _answered(nc: NATS) -> Msg:
    """A request that got its reply: one sent into the dying connection is lost, so try again."""
    while True:
        try:
            return await nc.request("$JS.API.INFO", b"", timeout=1)
        except NATS_UNAVAILABLE:
            continue


def _connected_port(nc: NATS) -> int | None:
    return None if nc.connected_url is None else nc.connected_url.port
