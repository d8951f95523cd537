"""Secrets ``make up`` makes for itself, kept under ``DATA_DIR/secrets`` and nowhere else.

Each is made on first use and read back afterwards, so the NATS users and Postgres roles keep
their passwords across restarts. The folder and the files are readable by this user alone.
"""

import os
import secrets
from pathlib import Path

_FOLDER = "secrets"
_BYTES = 24


def secret(data_dir: Path, name: str) -> str:
    """The secret called ``name`` under ``data_dir``, made now if there is none yet."""
    folder = data_dir / _FOLDER
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    path = folder / name
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = secrets.token_urlsafe(_BYTES)
    # Created with its mode, so it is never readable by others, not even for a moment.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(value + "\n")
    return value
