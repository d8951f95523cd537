"""Who is calling and what they may do: every ``/api`` route declares the role it needs.

A caller is known by ``X-API-Key`` (scripts, the CLI) or by the session cookie (the
browser); a cookie-authenticated command must also carry the session's CSRF token. With no
keys configured the API is open and every caller is ``anonymous`` with the admin role.
401: no credential, or a wrong one; 403: a key whose role is too small, naming the role
needed.
"""

import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from taskbus_api.abuse import AbuseLimits
from taskbus_api.errors import ApiError
from taskbus_api.keys import KeyRing, Role
from taskbus_api.sessions import COOKIE_NAME, CSRF_HEADER, SessionSigner
from taskbus_api.settings import ApiSettings

log = structlog.get_logger(__name__)

ANONYMOUS = "anonymous"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Probes and the dependency report stay open so orchestrators need no secret; the session
# routes authenticate by themselves (signing in is how a browser gets a credential).
OPEN_PATHS = frozenset({"/api/health", "/api/session"})


class Unauthorized(ApiError):
    status_code = 401


class Forbidden(ApiError):
    status_code = 403

    def __init__(self, detail: str, required: Role) -> None:
        super().__init__(detail)
        self.required = required

    def body(self) -> dict[str, Any]:
        return {**super().body(), "required_role": self.required.label}


class CsrfRefused(ApiError):
    status_code = 403


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    csrf_token: str | None = None
    """Set when the caller came with a session cookie."""

    @property
    def anonymous(self) -> bool:
        return self.name == ANONYMOUS

    def limit_key(self) -> str | None:
        """What per-key limits count under; None for an open API, which has no keys to limit."""
        return None if self.anonymous else self.name


@dataclass
class Access:
    """What ``create_app`` set up for access control, shared by every request."""

    keys: KeyRing
    sessions: SessionSigner
    limits: AbuseLimits


def configured_access(settings: ApiSettings) -> Access:
    """From the settings; raises on a key entry or limit that cannot be used."""
    keys = KeyRing.configured(settings.api_keys, settings.api_keys_file, settings.api_key)
    if settings.session_secret is not None:
        secret = settings.session_secret.get_secret_value()
    else:
        if keys.required:
            log.warning("no API_SESSION_SECRET: sessions hold only on the replica that issued them")
        secret = secrets.token_urlsafe(32)
    return Access(
        keys=keys,
        sessions=SessionSigner(secret, settings.session_ttl_s),
        limits=AbuseLimits(settings.command_rate_limit, settings.max_streams_per_key),
    )


def access_of(request: Request) -> Access:
    access: Access = request.app.state.access
    return access


def authenticate(request: Request) -> Principal:
    """The caller, from the key header or else the session cookie; raises 401."""
    access = access_of(request)
    presented = request.headers.get("x-api-key")
    if presented is not None:
        key = access.keys.match(presented)
        if key is None:
            raise Unauthorized("wrong API key")
        return Principal(key.name, key.role)
    cookie = request.cookies.get(COOKIE_NAME)
    if cookie is not None and access.keys.required:
        session = access.sessions.verify(cookie)
        key = None if session is None else access.keys.named(session.key_name)
        if session is None or key is None or key.fingerprint != session.fingerprint:
            raise Unauthorized("the session expired or its key was replaced: give the key again")
        principal = Principal(key.name, key.role, session.csrf_token)
        _check_csrf(request, principal)
        return principal
    if access.keys.required:
        if "api_key" in request.query_params:
            raise Unauthorized("send the key as the X-API-Key header, not in the URL")
        raise Unauthorized("missing API key: send X-API-Key, or sign in with POST /api/session")
    return Principal(ANONYMOUS, Role.ADMIN)


def _check_csrf(request: Request, principal: Principal) -> None:
    if request.method in _SAFE_METHODS:
        return
    given = request.headers.get(CSRF_HEADER, "")
    assert principal.csrf_token is not None
    if not hmac.compare_digest(given.encode(), principal.csrf_token.encode()):
        raise CsrfRefused(f"a command signed in by cookie needs the session's {CSRF_HEADER}")


class RoleGuard:
    """A dependency that authenticates the caller and refuses one below ``role``; a command
    also counts against the caller's rate (429 past it)."""

    def __init__(self, role: Role, *, command: bool = False) -> None:
        self.role = role
        self.command = command

    async def __call__(self, request: Request) -> Principal:
        principal = authenticate(request)
        if principal.role < self.role:
            raise Forbidden(
                f"this needs the {self.role.label} role; key {principal.name} has "
                f"{principal.role.label}",
                self.role,
            )
        if self.command:
            await access_of(request).limits.command(principal.limit_key())
        return principal


Reader = Annotated[Principal, Depends(RoleGuard(Role.READ))]
Operator = Annotated[Principal, Depends(RoleGuard(Role.OPERATE, command=True))]
"""A command: submit, cancel, retry, upload."""


def _guarded(dependant: Dependant) -> bool:
    return isinstance(dependant.call, RoleGuard) or any(
        _guarded(sub) for sub in dependant.dependencies
    )


def check_every_route_guarded(routers: Iterable[APIRouter]) -> None:
    """Refuse to start with an ``/api`` route that declares no role: a new route is closed
    until someone decides who may call it."""
    for route in (route for router in routers for route in router.routes):
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/"):
            continue
        if route.path not in OPEN_PATHS and not _guarded(route.dependant):
            raise RuntimeError(f"route {route.path} declares no role (taskbus_api.access)")
