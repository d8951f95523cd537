"""Browser sessions: a signed, expiring cookie issued once a key was given (README, "API keys").

The cookie names the key (and a fingerprint of its digest, so replacing a key ends its
sessions) and carries a CSRF token that cookie-authenticated commands must echo in
``X-CSRF-Token``. It is signed with ``API_SESSION_SECRET`` (itsdangerous, HMAC), not
encrypted: it holds nothing secret but the token, which the page is given anyway.
"""

import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

COOKIE_NAME = "taskbus_session"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True, slots=True)
class Session:
    key_name: str
    fingerprint: str
    csrf_token: str


class SessionSigner:
    def __init__(self, secret: str, ttl_s: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="taskbus-session")
        self.ttl_s = ttl_s

    def issue(self, key_name: str, fingerprint: str) -> tuple[str, Session]:
        session = Session(key_name, fingerprint, secrets.token_urlsafe(24))
        payload = [session.key_name, session.fingerprint, session.csrf_token]
        return self._serializer.dumps(payload), session

    def verify(self, cookie: str) -> Session | None:
        """The session the cookie holds, or None when it is forged, altered or expired."""
        try:
            payload = self._serializer.loads(cookie, max_age=self.ttl_s)
        except BadSignature:  # SignatureExpired is one too
            return None
        if not (isinstance(payload, list) and len(payload) == 3):
            return None
        if not all(isinstance(part, str) for part in payload):
            return None
        return Session(*payload)
