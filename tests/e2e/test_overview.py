"""The overview endpoints: counts, throughput, queue depth and live workers."""

from support.system import System


def test_stats_count_tasks_by_status_and_type(system: System) -> None:
    before = system.client.get("/api/stats").json()
    task = system.submit("csv_processing", {"num_rows": 10})
    system.wait_for_status(task["id"], "SUCCESS")

    after = system.client.get("/api/stats").json()

    assert after["by_status"]["SUCCESS"] == before["by_status"]["SUCCESS"] + 1
    assert (
        after["by_type"]["csv_processing"]["SUCCESS"]
        == before["by_type"]["csv_processing"]["SUCCESS"] + 1
    )
    assert len(after["throughput"]) == 60
    assert after["throughput"][-1]["succeeded"] >= 1
    assert set(after["queues"]) == {"csv_processing", "email_sending", "image_processing"}
    assert all(q["pending"] >= 0 and q["in_flight"] >= 0 for q in after["queues"].values())


def test_queue_depth_counts_work_no_worker_has_taken(system: System) -> None:
    system.stop("taskbus-worker-image")
    try:
        system.submit("image_processing", {"num_images": 1})
        depth = system.client.get("/api/stats").json()["queues"]["image_processing"]
    finally:
        system.start("taskbus-worker-image")

    assert depth["pending"] >= 1


def test_workers_announce_themselves(system: System) -> None:
    workers = system.client.get("/api/workers").json()["items"]

    assert {w["task_type"] for w in workers} >= {
        "csv_processing",
        "email_sending",
        "image_processing",
    }
    for worker in workers:
        assert worker["worker_id"]
        assert worker["processed"] >= worker["failed"] >= 0
