"""A description of the machine and servers, kept with the results they explain."""

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from taskbus.devrun.nats import nats_server_binary
from taskbus.devrun.postgres import postgres_bin_dir


def describe() -> dict[str, Any]:
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "nats_server": _version(nats_server_binary(), "--version"),
        "postgres": _version(postgres_bin_dir() / "postgres", "--version"),
    }


def load_average() -> float:
    """The 1-minute load average: above the core count, other work competes with the run."""
    return round(os.getloadavg()[0], 2)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb() -> float | None:
    try:
        total_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return round(total_kb / 1024 / 1024, 1)


def _version(binary: Path, flag: str) -> str:
    done = subprocess.run([str(binary), flag], capture_output=True, text=True, check=False)
    return done.stdout.strip() or done.stderr.strip()
