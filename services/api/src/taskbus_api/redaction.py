"""Secrets out of every log line the API writes, its own and its libraries' (uvicorn's
access log, were it switched on, would write query strings as they came).

A structlog processor that runs last before rendering (``configure_logging``'s
``before_rendering``), so it sees each line's final values, whatever logger made it: a
structlog event's, or a stdlib record's formatted message.
"""

import re
from collections.abc import MutableMapping
from typing import Any

from taskbus_api.sessions import COOKIE_NAME

_PATTERNS = [
    # A key or a session in a URL or a header as text: ?api_key=..., X-API-Key: ..., cookies.
    re.compile(r"(?i)(api[_-]?key[\"']?\s*[=:]\s*[\"']?)[^&\s\"',;]+"),
    re.compile(r"(?i)(x-csrf-token[\"']?\s*[=:]\s*[\"']?)[^&\s\"',;]+"),
    re.compile(rf"({COOKIE_NAME}=)[^;\s\"',]+"),
]
# Whether any pattern may match: one search where most values (every value of most lines)
# would otherwise cost a search per pattern.
_ANY = re.compile(rf"(?i)api[_-]?key|x-csrf-token|{re.escape(COOKIE_NAME)}=")
REDACTED = "[redacted]"


def redact(text: str, secrets: tuple[str, ...] = ()) -> str:
    if _ANY.search(text) is not None:
        for pattern in _PATTERNS:
            text = pattern.sub(rf"\g<1>{REDACTED}", text)
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


class RedactSecrets:
    """Rewrites each line's text values with the patterns above and the literal secrets the
    API holds (the legacy ``API_KEY``, the session secret)."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        self._secrets = tuple(secret for secret in secrets if secret)

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event.items():
            if isinstance(value, str):
                event[key] = redact(value, self._secrets)
        return event
