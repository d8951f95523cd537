"""The Python client against the running system: submit, results, live events, commands,
errors, idempotency and bulk submits."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import taskbus
import taskbus.events
from support.system import System
from taskbus.client import BatchRefused, Conflict, InvalidRequest, NotFound

SMALL = {"num_rows": 10}
SLOW = {"num_rows": 1000, "processing_time": 60}


@pytest.fixture
async def client(system: System) -> AsyncIterator[taskbus.Client]:
    async with taskbus.Client(api_url=system.api_url) as client:
        yield client


async def test_submit_and_await_the_result(client: taskbus.Client) -> None:
    handle = await client.submit("csv_processing", SMALL, name="from the client")

    assert handle.task is not None
    assert handle.task.status == "PENDING"
    assert handle.task.name == "from the client"
    result = await handle.result(timeout=30)
    assert result["rows"] == 10
    assert handle.task.status == "SUCCESS"


async def test_events_are_live_states_in_log_order_ending_with_the_end(
    client: taskbus.Client,
) -> None:
    handle = await client.submit("csv_processing", {"num_rows": 2000, "processing_time": 1})

    states = [task async for task in handle.events()]

    assert states[-1].status == "SUCCESS"
    assert [task.seq for task in states] == sorted({task.seq for task in states})
    assert any(task.status == "RUNNING" for task in states)


async def test_a_failed_task_raises_task_failed_and_a_retry_runs_again(
    system: System, client: taskbus.Client
) -> None:
    file_id = system.upload(b"\x00\x01binary", "garbage.csv", "text/csv")
    handle = await client.submit("csv_processing", {"file_id": file_id}, max_attempts=1)

    with pytest.raises(taskbus.TaskFailed) as failed:
        await handle.result(timeout=30)
    assert failed.value.task.status == "FAILED"
    assert failed.value.task.error

    retried = await handle.retry()
    assert (retried.status, retried.attempts) == ("PENDING", 2)
    # The read model may still show the first failure: result() waits for this attempt's.
    with pytest.raises(taskbus.TaskFailed) as again:
        await handle.result(timeout=30)
    assert again.value.task.attempts == 2


async def test_cancel_raises_task_cancelled_from_result(client: taskbus.Client) -> None:
    handle = await client.submit("csv_processing", SLOW)

    cancelled = await handle.cancel(reason="not needed")

    assert cancelled.status == "CANCELLED"
    with pytest.raises(taskbus.TaskCancelled) as raised:
        await handle.result(timeout=30)
    assert raised.value.task.id == handle.id
    assert isinstance(raised.value, taskbus.ClientError)
    assert not issubclass(taskbus.TaskCancelled, taskbus.events.TaskCancelled)


async def test_result_times_out_while_the_task_runs(client: taskbus.Client) -> None:
    handle = await client.submit("csv_processing", SLOW)
    try:
        with pytest.raises(TimeoutError, match=str(handle.id)):
            await handle.result(timeout=0.5)
    finally:
        await handle.cancel()


async def test_api_errors_carry_the_status_and_the_apis_message(client: taskbus.Client) -> None:
    with pytest.raises(InvalidRequest) as invalid:
        await client.submit("csv_processing", {"num_rows": -5})
    assert invalid.value.status == 422
    assert "parameters.num_rows" in str(invalid.value)

    missing = uuid.uuid4()
    with pytest.raises(NotFound) as not_found:
        await client.get(missing)
    assert not_found.value.status == 404
    assert str(missing) in not_found.value.detail

    handle = await client.submit("csv_processing", SMALL)
    await handle.result(timeout=30)
    with pytest.raises(Conflict) as conflict:
        await handle.cancel()
    assert conflict.value.status == 409
    assert "SUCCESS" in str(conflict.value)


async def test_an_idempotency_key_names_one_task(client: taskbus.Client) -> None:
    key = f"client-{uuid.uuid4()}"

    first = await client.submit("csv_processing", SMALL, idempotency_key=key)
    second = await client.submit("csv_processing", {"num_rows": 99}, idempotency_key=key)

    assert second.id == first.id
    assert second.task is not None
    assert second.task.parameters["num_rows"] == 10


async def test_reads_and_a_handle_from_an_id(client: taskbus.Client) -> None:
    name = f"listed-{uuid.uuid4().hex[:8]}"
    submitted = await client.submit("csv_processing", SMALL, name=name)

    page = await client.list_tasks(q=name, task_type="csv_processing")
    assert [task.id for task in page.items] == [submitted.id]
    assert await client.handle(submitted.id).result(timeout=30) == await submitted.result()


async def test_submit_many_submits_the_good_tasks_and_names_the_bad_one(
    client: taskbus.Client,
) -> None:
    with pytest.raises(BatchRefused) as refused:
        await client.submit_many("csv_processing", [SMALL, {"num_rows": -5}, {"num_rows": 20}])

    first, bad, last = refused.value.results
    assert isinstance(bad, InvalidRequest)
    assert bad.detail[0]["loc"] == ["body", "tasks", 1, "parameters", "num_rows"]
    assert isinstance(first, taskbus.TaskHandle)
    assert isinstance(last, taskbus.TaskHandle)
    assert (await first.result(timeout=30))["rows"] == 10
    assert (await last.result(timeout=30))["rows"] == 20


async def test_submit_many_in_batches_of_a_thousand(client: taskbus.Client) -> None:
    parameters = [{"num_rows": 10, "seed": i} for i in range(1001)]

    handles = await client.submit_many("csv_processing", parameters, name="bulk")

    assert len({handle.id for handle in handles}) == 1001
    assert [h.task.parameters["seed"] for h in handles if h.task] == list(range(1001))
    results = await asyncio.gather(handles[0].result(timeout=60), handles[-1].result(timeout=60))
    assert [result["rows"] for result in results] == [10, 10]


async def test_submit_many_with_keys_is_idempotent(client: taskbus.Client) -> None:
    keys = [f"many-{uuid.uuid4()}" for _ in range(3)]

    first = await client.submit_many("csv_processing", [SMALL] * 3, idempotency_keys=keys)
    again = await client.submit_many("csv_processing", [SMALL] * 3, idempotency_keys=keys)

    assert [h.id for h in again] == [h.id for h in first]
