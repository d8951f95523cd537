"""Uploads and downloads over HTTP: limits, types, names, and tasks naming files."""

import uuid
from collections.abc import Iterator
from urllib.parse import unquote

import httpx
import pytest
from support.fixtures import SystemFactory
from support.system import System

CSV = b"name,amount\nada,1.5\nbob,\n"


def _upload(
    system: System, data: bytes, name: str, content_type: str, **params: str
) -> httpx.Response:
    response: httpx.Response = system.client.post(
        "/api/files", files={"file": (name, data, content_type)}, params=params
    )
    return response


def _uploaded(system: System, data: bytes, name: str, content_type: str) -> dict[str, object]:
    response = _upload(system, data, name, content_type)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def _download_name(response: httpx.Response) -> str:
    """The RFC 6266 ``filename*`` of the response (what browsers save the file as)."""
    return unquote(response.headers["content-disposition"].split("filename*=UTF-8''", 1)[1])


@pytest.fixture(scope="module")
def limited(system_factory: SystemFactory) -> Iterator[System]:
    """An API alone that takes files of up to 1000 bytes."""
    with system_factory(
        "files-limited", services=("taskbus-api",), extra_env={"API_MAX_UPLOAD_BYTES": "1000"}
    ) as system:
        # "api ready" is logged before uvicorn listens; with no other service to start
        # after it, the first request could otherwise beat the socket.
        system.wait_for_log("taskbus-api", "Uvicorn running")
        yield system


def test_an_upload_comes_back_as_an_attachment(system: System) -> None:
    stored = _uploaded(system, CSV, "sales.csv", "text/csv")

    assert stored["name"] == "sales.csv"
    assert (stored["size"], stored["content_type"]) == (len(CSV), "text/csv")
    uuid.UUID(str(stored["file_id"]))
    response = system.client.get(f"/api/files/{stored['file_id']}")
    assert response.status_code == 200
    assert response.content == CSV
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert _download_name(response) == "sales.csv"
    assert response.headers["content-disposition"].startswith("attachment;")


def test_an_evil_file_name_is_kept_for_display_only(system: System) -> None:
    evil = '..\\../etc/pa"ss\x07wd; x=1 Ünïcødé ✓.csv'

    stored = _uploaded(system, CSV, evil, "text/csv")

    # httpx, like browsers, sends the quote and the control character percent-encoded.
    assert stored["name"] == "pa%22ss%07wd; x=1 Ünïcødé ✓.csv"
    response = system.client.get(f"/api/files/{stored['file_id']}")
    header = response.headers["content-disposition"]
    assert header.isascii()
    assert "\r" not in header
    assert "\n" not in header
    assert _download_name(response) == stored["name"]
    assert "filename*=UTF-8''pa%2522ss%2507wd%3B%20x%3D1%20" in header


def test_a_generic_type_is_told_by_the_extension(system: System) -> None:
    stored = _uploaded(system, CSV, "export.csv", "application/octet-stream")

    assert stored["content_type"] == "text/csv"


def test_a_type_not_taken_is_refused_naming_the_accepted_ones(system: System) -> None:
    html = _upload(system, b"<script>alert(1)</script>", "page.html", "text/html")
    csv_for_images = _upload(system, CSV, "a.csv", "text/csv", purpose="image_processing")

    assert html.status_code == 415
    assert "text/html is not accepted for any task" in html.json()["detail"]
    assert "image/png" in html.json()["detail"]
    assert csv_for_images.status_code == 415
    assert csv_for_images.json()["detail"] == (
        "text/csv is not accepted for image_processing; accepted: image/bmp, image/gif,"
        " image/jpeg, image/png, image/webp"
    )


def test_a_body_that_is_not_a_form_or_lacks_the_file_is_refused(system: System) -> None:
    raw = system.client.post("/api/files", content=CSV, headers={"content-type": "text/csv"})
    other_field = system.client.post("/api/files", files={"attachment": ("a.csv", CSV, "text/csv")})

    assert raw.status_code == 415
    assert other_field.status_code == 422
    assert other_field.json()["detail"] == "no file field 'file' in the form"


def test_a_file_over_the_limit_is_refused(limited: System) -> None:
    small = _upload(limited, b"a\n" * 400, "ok.csv", "text/csv")
    large = _upload(limited, b"a\n" * 600, "big.csv", "text/csv")

    assert small.status_code == 201
    assert large.status_code == 413
    assert large.json()["detail"] == "the file is larger than the limit of 1,000 bytes"


def test_a_streamed_file_over_the_limit_is_cut_off(limited: System) -> None:
    """No Content-Length: the limit is enforced on the bytes as they arrive."""
    boundary = "taskbus-test-boundary"

    def body() -> Iterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="big.csv"\r\nContent-Type: text/csv\r\n\r\n'
        ).encode()
        for _ in range(50):
            yield b"x" * 100
        yield f"\r\n--{boundary}--\r\n".encode()

    response = limited.client.post(
        "/api/files",
        content=body(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )

    assert response.status_code == 413


def test_downloads_of_unknown_or_malformed_ids(system: System) -> None:
    assert system.client.get(f"/api/files/{uuid.uuid4()}").status_code == 404
    assert system.client.get("/api/files/not-an-id").status_code == 422


def test_a_task_naming_a_missing_file_is_refused(system: System) -> None:
    missing = str(uuid.uuid4())
    image = _uploaded(system, b"\x89PNG\r\n\x1a\n", "a.png", "image/png")

    csv_task = system.client.post(
        "/api/tasks/submit",
        json={"task_type": "csv_processing", "parameters": {"file_id": missing}},
    )
    image_task = system.client.post(
        "/api/tasks/submit",
        json={
            "task_type": "image_processing",
            "parameters": {"file_ids": [image["file_id"], missing]},
        },
    )
    csv_of_an_image = system.client.post(
        "/api/tasks/submit",
        json={"task_type": "csv_processing", "parameters": {"file_id": image["file_id"]}},
    )

    assert csv_task.status_code == 422
    (error,) = csv_task.json()["detail"]
    assert error["loc"] == ["body", "parameters", "file_id"]
    assert error["msg"] == f"no uploaded file with id '{missing}'"
    assert image_task.status_code == 422
    assert [e["loc"] for e in image_task.json()["detail"]] == [
        ["body", "parameters", "file_ids", 1]
    ]
    assert csv_of_an_image.status_code == 422
    assert "is image/png; csv_processing takes" in csv_of_an_image.json()["detail"][0]["msg"]
