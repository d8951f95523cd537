"""The API's log lines carry no secret, whichever logger wrote them."""

import json
import logging

import pytest
import structlog
from taskbus.logs import configure_logging
from taskbus_api.redaction import REDACTED, RedactSecrets

SECRET = "s3ss10n-s3cret-value"


def test_secrets_are_redacted_in_own_and_library_lines(capsys: pytest.CaptureFixture[str]) -> None:
    # Configured in the test itself: the loggers keep the stdout they were given, capsys's.
    configure_logging("INFO", "json", service="api", before_rendering=[RedactSecrets((SECRET,))])
    try:
        own = structlog.get_logger("taskbus_api.test")
        own.info("request", url="/api/tasks?api_key=abc123", note=f"signed with {SECRET}")
        logging.getLogger("uvicorn.error").warning("header X-API-Key: abc123 from %s", "client")
        own.debug("filtered out", url="?api_key=zzz")
        written = capsys.readouterr().out
    finally:
        structlog.reset_defaults()
        logging.getLogger().handlers.clear()

    lines = [json.loads(line) for line in written.splitlines()]
    assert [line["level"] for line in lines] == ["info", "warning"]
    assert lines[0]["url"] == f"/api/tasks?api_key={REDACTED}"
    assert lines[0]["note"] == f"signed with {REDACTED}"
    assert lines[1]["event"] == f"header X-API-Key: {REDACTED} from client"
    assert "abc123" not in written
    assert SECRET not in written
