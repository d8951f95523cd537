"""Named API keys with roles, kept only as digests (README, "API keys").

A key is 32 random bytes from ``taskbus-api-key new``; what the API is configured with is
``name:role:sha256hex`` per key (``TASKBUS_API_KEYS``, comma- or newline-separated, and/or
the file ``TASKBUS_API_KEYS_FILE``). A plain SHA-256 suffices because the keys are random
and long: there is nothing to guess a preimage from, so a slow password hash would only
cost every request its time. The legacy ``API_KEY`` (plain text, possibly short) stays an
``admin`` key named ``admin``; only its digest is kept after start.
"""

import enum
import hashlib
import hmac
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
LEGACY_KEY_NAME = "admin"


class Role(enum.IntEnum):
    """Each role can do what the ones below it can."""

    READ = 1
    """The dashboard, lists, streams, downloads, the audit trail."""
    OPERATE = 2
    """Submit, cancel, retry, upload."""
    ADMIN = 3
    """Everything, including what only admins may do (schedules, limits, bulk actions)."""

    @property
    def label(self) -> str:
        return self.name.lower()


class KeyConfigError(ValueError):
    """A key entry that cannot be used; the API refuses to start with it."""


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    role: Role
    digest: bytes

    @property
    def fingerprint(self) -> str:
        """A short mark of this key's digest: a session of a replaced key no longer matches."""
        return self.digest[:8].hex()


def digest_of(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_entry(entry: str) -> ApiKey:
    """``name:role:sha256hex`` as ``taskbus-api-key new`` prints it."""
    parts = entry.strip().split(":")
    if len(parts) != 3:
        raise KeyConfigError(f"a key entry is name:role:sha256hex, not {len(parts)} parts")
    name, role, digest = (part.strip() for part in parts)
    if not _NAME.match(name):
        raise KeyConfigError(f"key name {name[:64]!r} is not lowercase letters, digits, .-_")
    try:
        parsed_role = Role[role.upper()]
    except KeyError:
        raise KeyConfigError(
            f"key {name}: role {role[:20]!r} is not read, operate or admin"
        ) from None
    if not _DIGEST.match(digest):
        raise KeyConfigError(
            f"key {name}: the digest is not 64 hex digits (give the hash, not the key)"
        )
    return ApiKey(name, parsed_role, bytes.fromhex(digest))


def _entries(text: str) -> list[str]:
    lines = (line.split("#", 1)[0] for line in text.replace(",", "\n").splitlines())
    return [line.strip() for line in lines if line.strip()]


class KeyRing:
    """The configured keys; empty means the API is open to anyone (as ``anonymous``)."""

    def __init__(self, keys: list[ApiKey]) -> None:
        names = [key.name for key in keys]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise KeyConfigError(f"key names must be unique: {', '.join(duplicates)}")
        self._keys = tuple(keys)

    @classmethod
    def configured(
        cls, entries: str | None, file: Path | None, legacy_key: str | None
    ) -> "KeyRing":
        text = (entries or "") + "\n" + (file.read_text() if file is not None else "")
        keys = [parse_entry(entry) for entry in _entries(text)]
        if legacy_key:
            keys.append(ApiKey(LEGACY_KEY_NAME, Role.ADMIN, digest_of(legacy_key)))
        return cls(keys)

    @property
    def required(self) -> bool:
        return bool(self._keys)

    def match(self, presented: str) -> ApiKey | None:
        """The key ``presented`` is, comparing its digest with every key's in constant time."""
        digest = digest_of(presented)
        found = None
        for key in self._keys:
            # No early exit: the time taken does not tell which key, if any, matched.
            if hmac.compare_digest(digest, key.digest):
                found = key
        return found

    def named(self, name: str) -> ApiKey | None:
        return next((key for key in self._keys if key.name == name), None)


def main() -> None:
    """``taskbus-api-key new NAME ROLE``: print a fresh key and the entry that configures it."""
    args = sys.argv[1:]
    if len(args) != 3 or args[0] != "new":
        sys.exit("usage: taskbus-api-key new NAME read|operate|admin")
    key = secrets.token_urlsafe(32)
    entry = f"{args[1]}:{args[2]}:{digest_of(key).hex()}"
    try:
        parse_entry(entry)  # refuses a bad name or role before anything is printed
    except KeyConfigError as exc:
        sys.exit(str(exc))
    print(f"key (give it to its holder; it is not stored): {key}")
    print(f"entry (for TASKBUS_API_KEYS or the keys file): {entry}")
