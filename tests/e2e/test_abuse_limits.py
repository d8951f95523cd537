"""Per-key command rates (429 with Retry-After), open streams per key, a capped file bucket
(507), and what holds for downloads: attachments, nosniff, the CSP."""

import secrets
import time
from collections.abc import Iterator

import httpx
import pytest
from support.fixtures import SystemFactory
from support.system import System
from taskbus_api.keys import digest_of

KEYS = {name: secrets.token_urlsafe(32) for name in ("burst", "calm", "streams", "uploader")}
CSV = {"task_type": "csv_processing", "parameters": {"num_rows": 5}}
FILES_MAX_BYTES = 400_000
KIB = 1024


@pytest.fixture(scope="module")
def limited(system_factory: SystemFactory) -> Iterator[System]:
    env = {
        "TASKBUS_API_KEYS": ",".join(
            f"{name}:operate:{digest_of(key).hex()}" for name, key in KEYS.items()
        ),
        "API_COMMAND_RATE_LIMIT": "5/minute",
        "API_MAX_STREAMS_PER_KEY": "2",
        "FILES_MAX_BYTES": str(FILES_MAX_BYTES),
    }
    services = ("taskbus-api", "taskbus-projector")
    with system_factory("abuse-limits", services=services, extra_env=env) as held:
        yield held


def as_key(name: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[name]}


def test_a_key_past_its_command_rate_gets_429_with_retry_after(limited: System) -> None:
    answers = [
        limited.client.post("/api/tasks/submit", json=CSV, headers=as_key("burst")).status_code
        for _ in range(6)
    ]
    refused = limited.client.post("/api/tasks/submit", json=CSV, headers=as_key("burst"))
    other_key = limited.client.post("/api/tasks/submit", json=CSV, headers=as_key("calm"))
    reads = limited.client.get("/api/tasks/", headers=as_key("burst"))

    assert answers == [201] * 5 + [429]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "5 per 1 minute" in refused.json()["detail"]
    assert other_key.status_code == 201
    assert reads.status_code == 200


def _open_stream(client: httpx.Client) -> httpx.Response:
    request = client.build_request("GET", "/api/stream", headers=as_key("streams"))
    return client.send(request, stream=True)


def test_a_key_holds_at_most_its_streams(limited: System) -> None:
    with httpx.Client(base_url=limited.api_url, timeout=30) as client:
        first, second = _open_stream(client), _open_stream(client)
        third = _open_stream(client)
        refusal = third.read().decode()
        third.close()
        first.close()
        # The API frees the slot once it notices the client went away.
        deadline = time.monotonic() + 10
        while (again := _open_stream(client)).status_code == 429:
            again.close()
            assert time.monotonic() < deadline, "the closed stream's slot was not freed"
        again.close()
        second.close()

    assert (first.status_code, second.status_code) == (200, 200)
    assert third.status_code == 429
    assert "already has 2 streams open" in refusal
    assert again.status_code == 200


def _upload(system: System, size: int, name: str = "data.csv") -> httpx.Response:
    data = b"x" * size
    return system.client.post(
        "/api/files", files={"file": (name, data, "text/csv")}, headers=as_key("uploader")
    )


def test_a_full_file_bucket_answers_507_and_keeps_what_it_stored(limited: System) -> None:
    kept = _upload(limited, 250 * KIB)
    # Declared larger than what is free: refused before a byte is stored.
    too_large = _upload(limited, 300 * KIB)
    # Small enough to be let in, too large to fit: refused once the bucket is full, and what
    # was stored of it is removed again.
    overflowing = _upload(limited, 180 * KIB)
    fits = _upload(limited, 50 * KIB)
    download = limited.client.get(f"/api/files/{kept.json()['file_id']}", headers=as_key("calm"))

    assert kept.status_code == 201, kept.text
    assert too_large.status_code == 507
    assert "the file store is full" in too_large.json()["detail"]
    assert overflowing.status_code == 507, overflowing.text
    assert fits.status_code == 201, fits.text
    assert download.status_code == 200
    assert len(download.content) == 250 * KIB


def test_downloads_stay_attachments_with_nosniff_and_the_csp(limited: System) -> None:
    page = "<html><script>alert(1)</script></html>"
    uploaded = limited.client.post(
        "/api/files",
        files={"file": ("page.html", page.encode(), "text/plain")},
        headers=as_key("calm"),
    )
    download = limited.client.get(
        f"/api/files/{uploaded.json()['file_id']}", headers=as_key("calm")
    )

    assert uploaded.status_code == 201, uploaded.text
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in download.headers["content-security-policy"]
    assert download.headers["content-type"].startswith("text/plain")
