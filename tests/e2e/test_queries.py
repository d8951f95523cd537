"""Reading tasks: list (empty, all, filtered, searched, paged), get, unknown ids."""

import uuid

from support.fixtures import SystemFactory
from support.system import System


def test_list_is_empty_on_a_new_system(system_factory: SystemFactory) -> None:
    with system_factory("empty", services=("taskbus-api", "taskbus-projector")) as empty:
        response = empty.client.get("/api/tasks/")

    assert response.status_code == 200
    assert response.json() == {"items": [], "next_cursor": None}


def test_list_all_returns_submitted_tasks_newest_first(system: System) -> None:
    tag = uuid.uuid4().hex
    ids = [
        system.submit("csv_processing", {"num_rows": 10}, name=f"{tag}-{i}")["id"] for i in range(3)
    ]

    items = system.client.get("/api/tasks/", params={"q": tag}).json()["items"]

    assert [t["id"] for t in items] == ids[::-1]


def test_filter_by_status(system: System) -> None:
    tag = uuid.uuid4().hex
    done = system.submit("csv_processing", {"num_rows": 10}, name=tag)
    failed = system.submit_failing(name=tag)
    system.wait_for_status(done["id"], "SUCCESS")
    system.wait_for_status(failed["id"], "FAILED")

    succeeded = system.client.get("/api/tasks/", params={"q": tag, "status": "SUCCESS"}).json()
    failures = system.client.get("/api/tasks/", params={"q": tag, "status": "FAILED"}).json()

    assert [t["id"] for t in succeeded["items"]] == [done["id"]]
    assert [t["id"] for t in failures["items"]] == [failed["id"]]


def test_filter_by_type(system: System) -> None:
    tag = uuid.uuid4().hex
    csv = system.submit("csv_processing", {"num_rows": 10}, name=tag)
    email = system.submit("email_sending", {"num_emails": 1}, name=tag)

    only_email = system.client.get(
        "/api/tasks/", params={"q": tag, "task_type": "email_sending"}
    ).json()["items"]

    assert [t["id"] for t in only_email] == [email["id"]]
    assert csv["id"] not in {t["id"] for t in only_email}


def test_bad_filters_are_422(system: System) -> None:
    bad = (
        {"status": "DONE"},
        {"task_type": "X"},
        {"limit": 0},
        {"cursor": "abc"},
        {"q": "\x00"},
    )
    for params in bad:
        response = system.client.get("/api/tasks/", params=params)
        assert response.status_code == 422, params


def test_keyset_pages_cover_every_task_once(system: System) -> None:
    tag = uuid.uuid4().hex
    ids = {system.submit("csv_processing", {"num_rows": 5}, name=tag)["id"] for _ in range(5)}

    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": tag, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = system.client.get("/api/tasks/", params=params).json()
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == len(ids) == len(set(seen))
    assert set(seen) == ids


def test_search_by_id_prefix(system: System) -> None:
    task = system.submit("csv_processing", {"num_rows": 5})

    items = system.client.get("/api/tasks/", params={"q": task["id"][:13]}).json()["items"]

    assert task["id"] in [t["id"] for t in items]


def test_get_task(system: System) -> None:
    task = system.submit("csv_processing", {"num_rows": 5}, name="get me")

    fetched = system.get(task["id"])

    assert fetched["id"] == task["id"]
    assert fetched["name"] == "get me"
    assert fetched["max_attempts"] >= 1


def test_get_unknown_task_is_404(system: System) -> None:
    response = system.client.get(f"/api/tasks/{uuid.uuid4()}")

    assert response.status_code == 404
    assert "no task" in response.json()["detail"]


def test_get_malformed_id_is_422(system: System) -> None:
    assert system.client.get("/api/tasks/not-a-uuid").status_code == 422
