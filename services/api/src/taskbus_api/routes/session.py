"""``/api/session``: sign a browser in with a key once; it then holds a cookie, not the key.

The page never keeps the key: it sends it here, gets an HttpOnly cookie it cannot read and
the CSRF token its commands echo, and asks ``GET`` who it is to show only what its role
allows.
"""

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field

from taskbus_api.access import Principal, Unauthorized, access_of, authenticate
from taskbus_api.sessions import COOKIE_NAME

router = APIRouter(prefix="/api/session", tags=["session"])


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=200)


class SessionOut(BaseModel):
    name: str = Field(description='The key\'s name, or "anonymous" where no keys are set.')
    role: str = Field(description="read, operate or admin.")
    keys_required: bool
    csrf_token: str | None = Field(
        description="Echo as X-CSRF-Token on commands (null: not signed in by cookie)."
    )


def _out(request: Request, principal: Principal) -> SessionOut:
    return SessionOut(
        name=principal.name,
        role=principal.role.label,
        keys_required=access_of(request).keys.required,
        csrf_token=principal.csrf_token,
    )


@router.get("", response_model=SessionOut)
async def who_am_i(request: Request) -> SessionOut:
    """The caller's key name and role; 401 when a key is needed and none was given."""
    return _out(request, authenticate(request))


@router.post("", response_model=SessionOut)
async def sign_in(body: SignIn, request: Request, response: Response) -> SessionOut:
    """Exchange a key for a session cookie (HttpOnly, SameSite=Strict, Secure over https)."""
    access = access_of(request)
    client = request.client.host if request.client else "unknown"
    # Bounds guessing at a short legacy API_KEY; random keys are out of reach anyway.
    await access.limits.command(f"sign-in@{client}")
    if not access.keys.required:
        return _out(request, authenticate(request))
    key = access.keys.match(body.key)
    if key is None:
        raise Unauthorized("wrong API key")
    cookie, session = access.sessions.issue(key.name, key.fingerprint)
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        max_age=access.sessions.ttl_s,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return _out(request, Principal(key.name, key.role, session.csrf_token))


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
async def sign_out(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
