"""Entry point of ``make bench``: ``.venv/bin/python bench/run.py [--quick] [--only NAME]``."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    # Run as a script, so the repository (for ``bench``) and tests/ (for the end-to-end
    # tests' ``support.system``, which starts the services) must be put on the path.
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    from bench.cli import main as run_benchmarks

    return run_benchmarks()


if __name__ == "__main__":
    sys.exit(main())
