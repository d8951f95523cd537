"""The projector's pull requests, against the session's nats-server."""

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig
from taskbus_projector.pull import BatchPuller, Linger, PullInterrupted

_UNBOUNDED = 1 << 20


@pytest.fixture
async def stream(nats_client: NATS) -> AsyncIterator[str]:
    """A stream of its own holding the ten messages p.0 to p.9, with a durable consumer c."""
    name = f"PULL_{secrets.token_hex(4).upper()}"
    js = nats_client.jetstream()
    await js.add_stream(name=name, subjects=[f"{name}.>"])
    for i in range(10):
        await js.publish(f"{name}.m", f"p.{i}".encode())
    await js.add_consumer(name, ConsumerConfig(durable_name="c", ack_policy=AckPolicy.ALL))
    yield name
    await js.delete_stream(name)


@pytest.fixture
async def puller(nats_client: NATS, stream: str) -> AsyncIterator[BatchPuller]:
    puller = BatchPuller(nats_client, stream, "c")
    await puller.start()
    yield puller
    await puller.stop()


async def test_batches_come_in_order_and_a_drained_consumer_gives_an_empty_one(
    puller: BatchPuller,
) -> None:
    first = await puller.fetch(4, 1.0, _UNBOUNDED)
    rest = await puller.fetch(100, 0.5, _UNBOUNDED)
    await rest[-1].ack()
    nothing = await puller.fetch(100, 0.2, _UNBOUNDED)

    assert [m.data for m in first + rest] == [f"p.{i}".encode() for i in range(10)]
    assert len(first) == 4
    assert nothing == []


async def test_a_consumer_deleted_under_a_pull_interrupts_it(
    puller: BatchPuller, nats_client: NATS, stream: str
) -> None:
    await puller.fetch(10, 1.0, _UNBOUNDED)
    # Everything is delivered, so this request waits for more until the consumer goes.
    waiting = asyncio.create_task(puller.fetch(10, 5.0, _UNBOUNDED))
    js = nats_client.jetstream()
    for _ in range(500):  # until the server has registered the request: a few ms
        if (await js.consumer_info(stream, "c")).num_waiting:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the pull request never reached the consumer")
    await js.delete_consumer(stream, "c")

    with pytest.raises(PullInterrupted, match="409"):
        await waiting


async def test_a_waiting_fetch_returns_with_the_first_message_not_at_expiry(
    puller: BatchPuller, nats_client: NATS, stream: str
) -> None:
    await puller.fetch(10, 1.0, _UNBOUNDED)
    waiting = asyncio.create_task(puller.fetch(10, 600.0, _UNBOUNDED))
    await nats_client.jetstream().publish(f"{stream}.m", b"late")
    # Far below the 600 s the request may wait: it ends with the message.
    async with asyncio.timeout(30):
        late = await waiting

    assert [m.data for m in late] == [b"late"]


async def test_a_batch_stops_at_max_bytes_and_a_larger_message_comes_alone(
    puller: BatchPuller, nats_client: NATS, stream: str
) -> None:
    await nats_client.jetstream().publish(f"{stream}.m", b"x" * 1000)
    batches = []
    while batch := await puller.fetch(100, 0.2, 150):
        batches.append([m.data for m in batch])

    assert [d for b in batches for d in b] == [f"p.{i}".encode() for i in range(10)] + [b"x" * 1000]
    assert 1 < len(batches[0]) < 10
    assert batches[-1] == [b"x" * 1000]


def test_a_linger_waits_only_while_events_arrive_faster_than_its_rate() -> None:
    now = [0.0]
    linger = Linger(0.005, above_per_s=500, window_s=0.2, clock=lambda: now[0])
    assert not linger.arrived(10)  # 50 events/s so far
    waits = []
    for _ in range(100):  # 4 events every 4 ms: 1,000 a second
        now[0] += 0.004
        waits.append(linger.arrived(4))
    assert waits[-1]
    assert waits.count(True) > 50
    now[0] += 1.0  # then quiet for a second: the average decays past the rate
    assert not linger.arrived(1)
    assert not Linger(0, above_per_s=0).arrived(1000)  # seconds 0: never waits


async def test_a_short_batch_lingers_and_takes_what_came_meanwhile(
    nats_client: NATS, stream: str
) -> None:
    async def published_late() -> None:
        await asyncio.sleep(0.1)
        for i in range(3):
            await nats_client.jetstream().publish(f"{stream}.m", f"late.{i}".encode())

    lingering = BatchPuller(nats_client, stream, "c", Linger(1.0, above_per_s=0))
    await lingering.start()
    try:
        await lingering.fetch(10, 1.0, _UNBOUNDED)  # p.0 to p.9, a full batch: no wait
        publishing = asyncio.create_task(published_late())
        await nats_client.jetstream().publish(f"{stream}.m", b"first")
        batch = await lingering.fetch(10, 1.0, _UNBOUNDED)
        await publishing
    finally:
        await lingering.stop()

    assert [m.data for m in batch] == [b"first", b"late.0", b"late.1", b"late.2"]


async def test_a_short_batch_does_not_linger_below_the_rate(nats_client: NATS, stream: str) -> None:
    quiet = BatchPuller(nats_client, stream, "c", Linger(5.0, above_per_s=1e9))
    await quiet.start()
    try:
        async with asyncio.timeout(2):  # far below the 5 s it would linger
            batch = await quiet.fetch(20, 1.0, _UNBOUNDED)
    finally:
        await quiet.stop()

    assert len(batch) == 10
