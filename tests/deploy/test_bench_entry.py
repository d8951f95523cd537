"""`make bench` starts: every benchmark module imports against the code as it is now.

The benchmarks run outside `make test`, so nothing else notices when a change to the library
leaves one of them behind (a removed name, a moved module).
"""

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.deploy

REPO = Path(__file__).resolve().parents[2]


def test_the_benchmark_entry_point_imports_every_benchmark() -> None:
    run = subprocess.run(
        [sys.executable, "bench/run.py", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert run.returncode == 0, run.stderr
    assert "--only" in run.stdout
