"""nats-server and Postgres from devrun: used for real, restarted, stopped without leftovers."""

import os
import socket
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import asyncpg
import nats
import psutil
import pytest
from taskbus.devrun.nats import NatsServer, start_nats
from taskbus.devrun.ports import LOOPBACK
from taskbus.devrun.postgres import PostgresServer, create_database, start_postgres


def live_group_members(pgid: int) -> list[int]:
    """Processes still in group ``pgid``; zombies waiting for a reaper count as gone."""
    members = []
    for process in psutil.process_iter(["status"]):
        with suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
    return members


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as listener:
        listener.bind((LOOPBACK, 0))
        listener.listen()
        yield int(listener.getsockname()[1])


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = start_nats(tmp_path / "nats")
    yield server
    server.stop()


@pytest.fixture
def postgres_server(tmp_path: Path) -> Iterator[PostgresServer]:
    server = start_postgres(tmp_path / "postgres", fsync=False)
    yield server
    server.stop()


async def publish_one(url: str, stream: str) -> int:
    client = await nats.connect(url)
    try:
        jetstream = client.jetstream()
        await jetstream.add_stream(name=stream, subjects=[f"{stream}.>"])
        ack = await jetstream.publish(f"{stream}.hello", b"kept")
        return ack.seq
    finally:
        await client.close()


async def stored_messages(url: str, stream: str) -> int:
    client = await nats.connect(url)
    try:
        info = await client.jetstream().stream_info(stream)
        return info.state.messages
    finally:
        await client.close()


async def test_nats_serves_jetstream_and_stops_without_leftovers(nats_server: NatsServer) -> None:
    assert await publish_one(nats_server.url, "DEVRUN") == 1

    nats_server.stop()

    assert nats_server.process.returncode == 0
    assert live_group_members(nats_server.process.pid) == []


async def test_nats_keeps_its_streams_across_a_restart(tmp_path: Path) -> None:
    first = start_nats(tmp_path / "nats")
    try:
        await publish_one(first.url, "KEPT")
    finally:
        first.stop()
    second = start_nats(tmp_path / "nats")
    try:
        assert await stored_messages(second.url, "KEPT") == 1
    finally:
        second.stop()


def test_nats_moves_off_a_busy_port(tmp_path: Path, busy_port: int) -> None:
    server = start_nats(tmp_path / "nats", port=busy_port)
    try:
        assert server.port != busy_port
    finally:
        server.stop()


async def test_postgres_serves_the_taskbus_database_and_stops_without_leftovers(
    postgres_server: PostgresServer,
) -> None:
    assert (
        postgres_server.dsn() == f"postgresql://postgres@127.0.0.1:{postgres_server.port}/taskbus"
    )
    connection = await asyncpg.connect(postgres_server.dsn())
    try:
        assert await connection.fetchval("SELECT current_database()") == "taskbus"
        assert await connection.fetchval("SHOW fsync") == "off"
        assert await connection.fetchval("SHOW max_connections") == "200"
    finally:
        await connection.close()

    postgres_server.stop()

    assert postgres_server.process.returncode == 0
    assert live_group_members(postgres_server.process.pid) == []


async def test_postgres_keeps_its_data_across_a_restart(tmp_path: Path) -> None:
    first = start_postgres(tmp_path / "postgres", fsync=False)
    try:
        connection = await asyncpg.connect(first.dsn())
        await connection.execute("CREATE TABLE kept (value text); INSERT INTO kept VALUES ('yes')")
        await connection.close()
    finally:
        first.stop()
    second = start_postgres(tmp_path / "postgres", fsync=False)
    try:
        connection = await asyncpg.connect(second.dsn())
        assert await connection.fetchval("SELECT value FROM kept") == "yes"
        await connection.close()
    finally:
        second.stop()


def test_postgres_moves_off_a_busy_port(tmp_path: Path, busy_port: int) -> None:
    server = start_postgres(tmp_path / "postgres", port=busy_port, fsync=False)
    try:
        assert server.port != busy_port
    finally:
        server.stop()


async def test_create_database_makes_a_separate_database_once(
    postgres_server: PostgresServer,
) -> None:
    url = create_database(postgres_server.dsn(), "isolated")
    assert create_database(postgres_server.dsn(), "isolated") == url

    connection = await asyncpg.connect(url)
    try:
        assert await connection.fetchval("SELECT current_database()") == "isolated"
    finally:
        await connection.close()
