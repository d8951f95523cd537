"""``NATS_CLUSTER_SIZE=3``: make up's 3-node JetStream cluster, and its members killed and back."""

import asyncio
import secrets
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from infra import ClusterNodes
from nats.js import JetStreamContext
from nats.js.api import StreamInfo
from pydantic import ValidationError
from taskbus.connections import NATS_UNAVAILABLE, close_nats, connect_nats, nats_servers
from taskbus.devrun.main import CLUSTER_DATABASE, start_servers
from taskbus.devrun.ports import accepts_connections
from taskbus.devrun.settings import DevSettings
from taskbus.eventlog import ensure_stream
from taskbus.settings import CommonSettings, NatsCredentials

WAIT_S = 30.0


async def current_replicas(js: JetStreamContext, stream: str) -> StreamInfo:
    """The stream's info once its leader reports every other replica current."""
    async with asyncio.timeout(WAIT_S):
        while True:
            info = await js.stream_info(stream)
            peers = (info.cluster.replicas or []) if info.cluster else []
            if info.cluster and info.cluster.leader and all(p.current for p in peers):
                return info
            await asyncio.sleep(0.05)


async def publish_until_stored(js: JetStreamContext, subject: str) -> None:
    """Publish, again while the client reconnects or the stream has no leader yet."""
    async with asyncio.timeout(WAIT_S):
        while True:
            try:
                await js.publish(subject, b"kept", timeout=2)
                return
            except NATS_UNAVAILABLE:
                await asyncio.sleep(0.05)


async def test_cluster_size_3_starts_a_cluster_whose_stream_has_3_replicas(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NATS_URL", "DATABASE_URL", "NATS_STREAM_REPLICAS", "TASKBUS_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    settings = DevSettings(nats_cluster_size=3, data_dir=tmp_path, smtp_host="127.0.0.1")
    said: list[str] = []
    with ExitStack() as servers:
        server_env = start_servers(settings, servers, said.append)
        env = server_env.common
        urls = nats_servers(env["NATS_URL"])
        common = CommonSettings(
            nats_url=env["NATS_URL"], stream_replicas=int(env["NATS_STREAM_REPLICAS"])
        )
        # The projector's login: the stream the admin step made is in shape for it.
        projector = server_env.own["projector"]
        credentials = NatsCredentials(
            user=projector["NATS_USER"], password=projector["NATS_PASSWORD"]
        )
        nc = await connect_nats(common.nats_url, name="test", credentials=credentials)
        try:
            await ensure_stream(nc.jetstream(), common)
            info = await current_replicas(nc.jetstream(), common.subjects.stream)
        finally:
            await close_nats(nc)

    assert len(urls) == 3
    assert env["NATS_STREAM_REPLICAS"] == "3"
    assert urlsplit(server_env.own["projector"]["DATABASE_URL"]).path == f"/{CLUSTER_DATABASE}"
    assert info.config.num_replicas == 3
    assert info.cluster is not None
    assert {info.cluster.leader, *(p.name for p in info.cluster.replicas or [])} == {
        "nats-1",
        "nats-2",
        "nats-3",
    }
    assert any("meta leader elected" in line for line in said)
    assert not any(accepts_connections(urlsplit(url).port or 0) for url in urls)
    assert [store.name for store in sorted((tmp_path / "nats-cluster").iterdir())] == [
        "nats-1",
        "nats-1.conf",
        "nats-2",
        "nats-2.conf",
        "nats-3",
        "nats-3.conf",
    ]


def test_a_malformed_nats_url_is_refused_before_anything_starts() -> None:
    with pytest.raises(ValidationError, match="server 2 of 2"):
        DevSettings(nats_url="nats://127.0.0.1:4222,")


async def test_a_killed_stream_leader_is_replaced_and_rejoins_with_every_message(
    nats_cluster: ClusterNodes,
) -> None:
    stream = f"KILL{secrets.token_hex(4).upper()}"
    nc = await connect_nats(nats_cluster.url, name="test")
    try:
        js = nc.jetstream()
        await js.add_stream(name=stream, subjects=[f"{stream}.>"], num_replicas=3)
        await current_replicas(js, stream)
        await js.publish(f"{stream}.before", b"1")
        leader = nats_cluster.wait_for_stream_leader(stream)

        nats_cluster.kill(leader)
        successor = nats_cluster.wait_for_stream_leader(stream)
        await publish_until_stored(js, f"{stream}.during")
        nats_cluster.restart(leader)
        nats_cluster.wait_until_stream_is_current(stream)
        info = await current_replicas(js, stream)
        await js.delete_stream(stream)
    finally:
        await close_nats(nc)

    assert successor != leader
    assert info.state.messages == 2
    assert info.cluster is not None
    assert len(info.cluster.replicas or []) == 2
