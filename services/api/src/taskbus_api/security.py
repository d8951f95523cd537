"""HTTP middleware: security headers, the optional API key, body limits, request tracing.

Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which costs a task and a stream
per layer per request (about a third of a submit's CPU with four layers).
"""

import secrets

from starlette.datastructures import Headers, MutableHeaders, QueryParams
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from taskbus.tracing import traced

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:;"
    " connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# Probes and the dependency report stay open so orchestrators need no secret.
_OPEN_PATHS = frozenset({"/api/health", "/healthz", "/readyz", "/metrics"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self._app(scope, receive, send_with_headers)


class ApiKeyRequired:
    """When ``API_KEY`` is set, ``/api/*`` needs it as ``X-API-Key`` or ``?api_key=``.

    The query form exists because a browser's EventSource cannot send headers.
    """

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self._app = app
        self._key = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith("/api/") and path not in _OPEN_PATHS:
            given = Headers(scope=scope).get("x-api-key") or QueryParams(scope["query_string"]).get(
                "api_key", ""
            )
            if not secrets.compare_digest(given.encode(), self._key):
                refusal = JSONResponse({"detail": "missing or wrong API key"}, status_code=401)
                await refusal(scope, receive, send)
                return
        await self._app(scope, receive, send)


class BodySizeLimit:
    """Refuse oversized command bodies before reading them (uploads have their own limit)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope) if scope["type"] == "http" else None
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self._app(scope, receive, send)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        if scope["method"] not in _BODY_METHODS or scope["path"].startswith("/api/files"):
            return None
        headers = Headers(scope=scope)
        length = headers.get("content-length")
        if length is None and headers.get("transfer-encoding"):
            return JSONResponse({"detail": "send a Content-Length"}, status_code=411)
        if length is not None and (not length.isdigit() or int(length) > self._max):
            return JSONResponse(
                {"detail": f"request body larger than {self._max} bytes"}, status_code=413
            )
        return None


class TraceRequests:
    """Each API call is a span continuing the caller's ``traceparent``, if any.

    Events appended while handling it carry the trace on to workers and the projector.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/") or path == "/api/stream":
            await self._app(scope, receive, send)
            return
        with traced(f"{scope['method']} {path}", parent=Headers(scope=scope)):
            await self._app(scope, receive, send)
