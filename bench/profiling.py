"""Optional flame graphs (``--profile``): py-spy samples each service while a figure is taken.

py-spy is not a project dependency; it is used when found (``PY_SPY`` or on PATH), e.g.
after ``pip install py-spy`` into a venv of its own. Each service gets an SVG flame graph
in the profile folder, named after the benchmark and the service.
"""

import os
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

SAMPLES_PER_S = 100
_STOP_TIMEOUT_S = 30


def py_spy() -> str | None:
    return os.environ.get("PY_SPY") or shutil.which("py-spy")


class Profiler:
    """Records flame graphs into ``folder``, or does nothing when ``folder`` is None."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._binary = py_spy() if folder is not None else None
        if folder is not None and self._binary is None:
            raise SystemExit("--profile needs py-spy: install it in a venv and set PY_SPY")

    @contextmanager
    def recording(self, label: str, services: Mapping[str, int]) -> Iterator[None]:
        """Sample every ``taskbus-*`` process of ``services`` while the block runs."""
        folder, binary = self.folder, self._binary
        if folder is None or binary is None:
            yield
            return
        folder.mkdir(parents=True, exist_ok=True)
        samplers = [
            _record(binary, pid, folder / f"{label}-{name.removeprefix('taskbus-')}.svg")
            for name, pid in services.items()
            if name.startswith("taskbus-")
        ]
        try:
            yield
        finally:
            for sampler in samplers:
                sampler.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
            for sampler in samplers:
                try:
                    sampler.wait(_STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    sampler.kill()
                    sampler.wait()


def _record(binary: str, pid: int, output: Path) -> subprocess.Popen[bytes]:
    argv = [binary, "record", "--pid", str(pid), "--rate", str(SAMPLES_PER_S)]
    argv += ["--nonblocking", "--output", str(output)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
