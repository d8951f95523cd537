"""``taskbus-projector --rebuild``: the read model is rebuilt from the log and switched in."""

from support.fixtures import SystemFactory


def test_rebuild_reproduces_the_read_model_and_keeps_projecting(
    system_factory: SystemFactory,
) -> None:
    with system_factory("rebuild") as s:
        done = [s.submit("csv_processing", {"num_rows": 10}) for _ in range(5)]
        failed = s.submit_failing(max_attempts=1)
        for task in done:
            s.wait_for_status(task["id"], "SUCCESS")
        s.wait_for_status(failed["id"], "FAILED")
        before = s.client.get("/api/tasks/", params={"limit": 200}).json()["items"]
        events_before = s.client.get(f"/api/tasks/{failed['id']}/events").json()["items"]

        s.stop("taskbus-projector")
        s.start("taskbus-projector", "--rebuild")
        s.wait_for_log("taskbus-projector", "read model rebuilt")
        after = s.client.get("/api/tasks/", params={"limit": 200}).json()["items"]
        events_after = s.client.get(f"/api/tasks/{failed['id']}/events").json()["items"]
        later = s.submit("csv_processing", {"num_rows": 10})
        s.wait_for_status(later["id"], "SUCCESS")

    assert after == before
    assert events_after == events_before
