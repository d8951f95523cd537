"""The projector's pull requests, against the session's nats-server."""

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client as NATS
from nats.js.api import AckPolicy, ConsumerConfig
from taskbus_projector.pull import BatchPuller, PullInterrupted

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
