"""HTTP hardening in one ASGI layer: the Host check, cross-site refusals, body limits,
tracing and security headers.

One layer rather than one per concern: each layer is a call and, for headers, a send
wrapper per request and per SSE chunk, and each looked the request's headers up again.
A submit spent a quarter of its CPU in five such layers. Here the headers are read in one
pass, the checks run in the order the layers had (Host, cross-site, body, then the span),
and send is wrapped once, so the security headers go on every response, refusals included.
Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which costs a task and a stream
per request.
"""

from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette._utils import parse_host_header
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from taskbus.tracing import TRACE_FIELDS, parent_context, span_in

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:;"
    " connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
)
# Kubelets and balancers address pods by IP, so the probes answer any Host.
_PROBE_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Uploads stream and count their own bytes (routes.files).
_UPLOADS = "/api/files"
# The stream lives as long as its client: a span around it would never end.
_UNTRACED = "/api/stream"
_TRACE_FIELDS = frozenset(name.encode() for name in TRACE_FIELDS)
# Read in the one pass over the request's headers; the first occurrence counts.
_READ = frozenset(
    {b"host", b"sec-fetch-site", b"origin", b"content-length", b"transfer-encoding"} | _TRACE_FIELDS
)
_HOSTS_REMEMBERED = 64


class Hardening:
    """Refuse what the API must not answer, trace what it does, and mark every response.

    - **Host** (DNS rebinding, Host header tricks): only ``allowed_hosts`` are answered
      (``*.example.com`` patterns, ``*`` for any), with starlette's ``TrustedHostMiddleware``
      rules and answer (400); the probes answer any Host.
    - **Cross-site** (CSRF): a state-changing request a browser sends on behalf of another
      site is refused (403). A browser says where a request comes from: ``Sec-Fetch-Site``
      (every current browser) and, on a cross-origin POST, ``Origin``. A request with
      neither is not a browser's (curl, the CLI) and is let through: it carries its own
      credential, which a forging site cannot make a browser send. This covers the simple
      cross-origin POSTs (a form to ``/api/files`` or ``/retry``) that need no preflight.
    - **Body size**: a command body over ``max_body_bytes`` is refused before it is read
      (413), and one without a Content-Length (chunked) too (411).
    - **Tracing**: each ``/api`` call is a span continuing the caller's ``traceparent``, if
      any; events appended while handling it carry the trace on to workers and the
      projector, and its trace id is on the API's log lines.
    - **Headers**: CSP, nosniff, no referrer, no framing, unless the response set its own.
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: Iterable[str], max_body_bytes: int) -> None:
        self._app = app
        self._hosts = _HostPatterns(allowed_hosts)
        self._max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            # No websocket routes; held to the Host check all the same.
            await self._websocket(scope, receive, send)
            return
        if kind != "http":
            await self._app(scope, receive, send)
            return
        seen = _read_headers(scope["headers"])

        async def send_marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                _mark(message)
            await send(message)

        refusal = self._refusal(scope, seen)
        if refusal is not None:
            await refusal(scope, receive, send_marked)
            return
        path: str = scope["path"]
        if not path.startswith("/api/") or path == _UNTRACED:
            await self._app(scope, receive, send_marked)
            return
        carrier = {name.decode(): value for name, value in seen.items() if name in _TRACE_FIELDS}
        with span_in(f"{scope['method']} {path}", parent_context(carrier)):
            await self._app(scope, receive, send_marked)

    def _refusal(self, scope: Scope, seen: dict[bytes, str]) -> Response | None:
        if scope["path"] not in _PROBE_PATHS and not self._hosts.allow(seen.get(b"host")):
            return PlainTextResponse("Invalid host header", status_code=400)
        method: str = scope["method"]
        if method in _SAFE_METHODS:
            return None
        problem = _cross_site(seen)
        if problem is not None:
            return JSONResponse({"detail": problem}, status_code=403)
        if method in _BODY_METHODS and not scope["path"].startswith(_UPLOADS):
            return self._oversized(seen)
        return None

    def _oversized(self, seen: dict[bytes, str]) -> Response | None:
        length = seen.get(b"content-length")
        if length is None and seen.get(b"transfer-encoding"):
            return JSONResponse({"detail": "send a Content-Length"}, status_code=411)
        if length is not None and (not length.isdigit() or int(length) > self._max_body):
            return JSONResponse(
                {"detail": f"request body larger than {self._max_body} bytes"}, status_code=413
            )
        return None

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._hosts.allow(_read_headers(scope["headers"]).get(b"host")):
            await self._app(scope, receive, send)
        else:
            await send({"type": "websocket.close", "code": 1008})


class _HostPatterns:
    """``TrustedHostMiddleware``'s matching (without its www. redirect, which was off)."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self._patterns = [pattern.lower() for pattern in patterns]
        for pattern in self._patterns:
            wild = pattern.startswith("*") and pattern != "*"
            if "*" in pattern[1:] or (wild and not pattern.startswith("*.")):
                raise ValueError(f"host pattern {pattern!r} must be like '*.example.com'")
        self._any = "*" in self._patterns
        self._answers: dict[str | None, bool] = {}

    def allow(self, header: str | None) -> bool:
        if self._any:
            return True
        # Clients send the same few Host values; a flood of others only empties this.
        answer = self._answers.get(header)
        if answer is None:
            if len(self._answers) >= _HOSTS_REMEMBERED:
                self._answers.clear()
            answer = self._answers[header] = self._match(header)
        return answer

    def _match(self, header: str | None) -> bool:
        parsed = parse_host_header(header)
        if parsed is None:
            return False
        host = parsed.host.lower()
        return any(
            host == pattern or (pattern.startswith("*") and host.endswith(pattern[1:]))
            for pattern in self._patterns
        )


def _read_headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, str]:
    """The headers the checks and the span read, by lower-case name, decoded as starlette
    decodes them (latin-1)."""
    seen: dict[bytes, str] = {}
    for name, value in raw:
        lowered = name.lower()
        if lowered in _READ and lowered not in seen:
            seen[lowered] = value.decode("latin-1")
    return seen


def _cross_site(seen: dict[bytes, str]) -> str | None:
    site = seen.get(b"sec-fetch-site")
    if site is not None:
        if site in ("same-origin", "none"):
            return None
        return f"cross-site request refused (Sec-Fetch-Site: {site[:20]})"
    origin = seen.get(b"origin")
    if origin is None:
        return None
    if origin != "null" and urlsplit(origin).netloc == seen.get(b"host"):
        return None
    return "cross-origin request refused (its Origin is not this server)"


def _mark(message: Message) -> None:
    """Add the security headers a response did not set itself."""
    raw = list(message.get("headers", ()))
    names = {name.lower() for name, _ in raw}
    raw.extend(header for header in _SECURITY_HEADERS if header[0] not in names)
    message["headers"] = raw
