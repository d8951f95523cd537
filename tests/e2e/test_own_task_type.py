"""A task type declared only in tests/ (tests/apps/dice.py) runs like a built-in.

Started with ``taskbus worker apps.dice:app``; the API learns it from the catalog: its
schema refuses bad parameters with a 422 naming the field, its defaults apply, its tasks
stream their progress and end with the typed result, which the Python client awaits and the
CLI follows.
"""

import asyncio
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import taskbus
from apps.dice import RollIn, RollOut, roll_dice
from support.system import System

pytestmark = pytest.mark.e2e

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dice_worker(system: System) -> Iterator[System]:
    system.start(
        "taskbus", "worker", "apps.dice:app", env={"PYTHONPATH": str(TESTS)}, name="worker-games"
    )
    try:
        yield system
    finally:
        system.stop("worker-games")


def test_the_catalog_lists_the_type_with_its_schema_and_worker(dice_worker: System) -> None:
    items = dice_worker.client.get("/api/task-types").json()["items"]
    [dice] = [item for item in items if item["name"] == "roll_dice"]

    assert dice["app"] == "games"
    assert dice["description"] == "Roll some dice and add them up."
    assert set(dice["parameters_schema"]["properties"]) == {"dice", "sides", "seed"}
    assert dice["result_schema"]["required"] == ["rolls", "total"]
    assert (dice["max_attempts"], dice["timeout_s"]) == (2, 30)
    assert dice["workers"] >= 1
    assert {"csv_processing", "email_sending", "image_processing"} <= {i["name"] for i in items}


@pytest.mark.parametrize(
    ("parameters", "location", "words"),
    [
        ({"sides": 1}, ["body", "parameters", "sides"], "minimum of 2"),
        ({"dice": "two"}, ["body", "parameters", "dice"], "not of type 'integer'"),
        ({"colour": "red"}, ["body", "parameters", "colour"], "not permitted"),
    ],
)
def test_parameters_its_schema_refuses_are_a_422_naming_the_field(
    dice_worker: System, parameters: dict[str, object], location: list[str], words: str
) -> None:
    response = dice_worker.client.post(
        "/api/tasks/submit", json={"task_type": "roll_dice", "parameters": parameters}
    )

    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == location
    assert words in error["msg"]


def test_an_unknown_type_is_a_422_listing_the_known_ones(dice_worker: System) -> None:
    response = dice_worker.client.post(
        "/api/tasks/submit", json={"task_type": "roll_die", "parameters": {}}
    )

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "task_type"]
    assert "unknown task type 'roll_die'" in error["msg"]
    assert "roll_dice" in error["msg"]


def test_a_task_of_the_type_streams_its_progress_and_ends_with_its_result(
    dice_worker: System,
) -> None:
    response = dice_worker.client.post(
        "/api/tasks/submit",
        json={"task_type": "roll_dice", "parameters": {"dice": 4, "sides": 20, "seed": 7}},
    )
    assert response.status_code == 201, response.text
    task = response.json()
    assert (task["max_attempts"], task["timeout_s"]) == (2, 30)

    seen = []
    for update in dice_worker.watch(task["id"]):
        seen.append(update)
        if update["status"] in ("SUCCESS", "FAILED"):
            break

    done = seen[-1]
    rng = random.Random(7)
    rolls = [rng.randint(1, 20) for _ in range(4)]
    assert done["status"] == "SUCCESS", done["error"]
    assert done["result"] == {"rolls": rolls, "total": sum(rolls)}


def test_the_python_client_awaits_its_result(dice_worker: System) -> None:
    async def roll() -> dict[str, object]:
        async with taskbus.Client(api_url=dice_worker.api_url) as client:
            handle = await client.submit("roll_dice", {"dice": 3, "seed": 11})
            return await handle.result(timeout=30)

    result = asyncio.run(roll())

    rng = random.Random(11)
    rolls = [rng.randint(1, 6) for _ in range(3)]
    assert result == {"rolls": rolls, "total": sum(rolls)}


def test_the_declared_type_submits_itself_and_its_result_comes_typed(dice_worker: System) -> None:
    async def roll() -> list[RollOut]:
        async with taskbus.Client(api_url=dice_worker.api_url):
            one = await roll_dice.submit(RollIn(dice=2, seed=5), name="typed")
            many = await roll_dice.submit_many([RollIn(dice=1, seed=s) for s in (1, 2)])
            return [await handle.result(timeout=30) for handle in (one, *many)]

    results = asyncio.run(roll())

    assert all(isinstance(result, RollOut) for result in results)
    rngs = [(2, random.Random(5)), (1, random.Random(1)), (1, random.Random(2))]
    assert [r.rolls for r in results] == [[rng.randint(1, 6) for _ in range(n)] for n, rng in rngs]


def test_a_declared_type_outside_a_client_says_how_to_get_one() -> None:
    with pytest.raises(RuntimeError, match=r"async with taskbus\.Client"):
        asyncio.run(roll_dice.submit(RollIn()))


def test_the_cli_follows_it_to_its_end(dice_worker: System) -> None:
    env = {**os.environ, "TASKBUS_API_URL": dice_worker.api_url, "COLUMNS": "200"}

    def taskbus_cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(Path(sys.executable).parent / "taskbus"), *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    done = taskbus_cli("submit", "roll_dice", "-p", "dice=5", "-p", "seed=3", "--follow")
    refused = taskbus_cli("submit", "roll_dice", "-p", "sides=1", "--follow")

    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["rolls"]) == 5
    assert refused.returncode == 2
    assert "sides" in refused.stderr
