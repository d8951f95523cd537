"""Secrets out of every log line the API writes, its own and its libraries' (uvicorn's
access log, were it switched on, would write query strings as they came).

A filter on the log handler, so it sees each record last, whatever logger made it: a
structlog event's values, or a stdlib record's message with its arguments.
"""

import logging
import re
from typing import Any

from taskbus_api.sessions import COOKIE_NAME

_PATTERNS = [
    # A key or a session in a URL or a header as text: ?api_key=..., X-API-Key: ..., cookies.
    re.compile(r"(?i)(api[_-]?key[\"']?\s*[=:]\s*[\"']?)[^&\s\"',;]+"),
    re.compile(r"(?i)(x-csrf-token[\"']?\s*[=:]\s*[\"']?)[^&\s\"',;]+"),
    re.compile(rf"({COOKIE_NAME}=)[^;\s\"',]+"),
]
REDACTED = "[redacted]"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(rf"\g<1>{REDACTED}", text)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites each record with the patterns above and the literal secrets the API holds
    (the legacy ``API_KEY``, the session secret)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self._secrets = tuple(secret for secret in secrets if secret)

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):  # a structlog event, rendered later
            record.msg = {key: self._value(value) for key, value in record.msg.items()}
        else:
            record.msg = redact(record.getMessage(), self._secrets)
            record.args = None
        return True

    def _value(self, value: Any) -> Any:
        return redact(value, self._secrets) if isinstance(value, str) else value


def redact_logs(secrets: tuple[str, ...]) -> None:
    """Install the filter on every handler of the root logger (``configure_logging``'s)."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(RedactSecrets(secrets))
