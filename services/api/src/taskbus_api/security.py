"""HTTP middleware: security headers, the Host check, cross-site refusals, body limits, tracing.

Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which costs a task and a stream
per layer per request (about a third of a submit's CPU with four layers).
"""

from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.trustedhost import TrustedHostMiddleware
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
_PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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


class CrossSiteRefusal:
    """Refuse state-changing requests a browser sends on behalf of another site (CSRF).

    A browser says where a request comes from: ``Sec-Fetch-Site`` (every current browser)
    and, on a cross-origin POST, ``Origin``. A request with neither is not a browser's
    (curl, the CLI) and is let through: it carries its own credential, which a forging site
    cannot make a browser send. This covers the simple cross-origin POSTs (a form to
    ``/api/files`` or ``/retry``) that need no CORS preflight.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in _SAFE_METHODS:
            problem = _cross_site(Headers(scope=scope))
            if problem is not None:
                refusal = JSONResponse({"detail": problem}, status_code=403)
                await refusal(scope, receive, send)
                return
        await self._app(scope, receive, send)


def _cross_site(headers: Headers) -> str | None:
    site = headers.get("sec-fetch-site")
    if site is not None:
        if site in ("same-origin", "none"):
            return None
        return f"cross-site request refused (Sec-Fetch-Site: {site[:20]})"
    origin = headers.get("origin")
    if origin is None:
        return None
    if origin != "null" and urlsplit(origin).netloc == headers.get("host"):
        return None
    return "cross-origin request refused (its Origin is not this server)"


class HostCheck:
    """Answer only for the configured host names (DNS rebinding, Host header tricks); the
    probes answer any Host, since kubelets and balancers address pods by IP."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self._app = app
        self._checked = TrustedHostMiddleware(app, allowed_hosts=allowed_hosts, www_redirect=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in _PROBE_PATHS:
            await self._app(scope, receive, send)
            return
        await self._checked(scope, receive, send)


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
