"""HTTP middleware: security headers, the optional API key, and request tracing."""

import secrets

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
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


class TraceRequests(BaseHTTPMiddleware):
    """Each API call is a span continuing the caller's ``traceparent``, if any.

    Events appended while handling it carry the trace on to workers and the projector.
    """

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if not path.startswith("/api/") or path == "/api/stream":
            return await call_next(request)
        with traced(f"{request.method} {path}", parent=request.headers):
            return await call_next(request)


class BodySizeLimit(BaseHTTPMiddleware):
    """Refuse oversized command bodies before reading them (uploads have their own limit)."""

    def __init__(self, app: object, max_bytes: int) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self._max = max_bytes

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.method in {"POST", "PUT", "PATCH"} and not request.url.path.startswith(
            "/api/files"
        ):
            length = request.headers.get("content-length")
            if length is None and request.headers.get("transfer-encoding"):
                return JSONResponse({"detail": "send a Content-Length"}, status_code=411)
            if length is not None and (not length.isdigit() or int(length) > self._max):
                return JSONResponse(
                    {"detail": f"request body larger than {self._max} bytes"}, status_code=413
                )
        return await call_next(request)


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


class ApiKeyRequired(BaseHTTPMiddleware):
    """When ``API_KEY`` is set, ``/api/*`` needs it as ``X-API-Key`` or ``?api_key=``.

    The query form exists because a browser's EventSource cannot send headers.
    """

    def __init__(self, app: object, api_key: str) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self._key = api_key.encode()

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if path.startswith("/api/") and path not in _OPEN_PATHS:
            given = request.headers.get("x-api-key") or request.query_params.get("api_key") or ""
            if not secrets.compare_digest(given.encode(), self._key):
                return JSONResponse({"detail": "missing or wrong API key"}, status_code=401)
        return await call_next(request)
