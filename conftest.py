"""The session's real servers (``tests/infra.py``), for every test in the repository.

Unit tests beside a package share them too, instead of starting servers of their own.
"""

pytest_plugins = ["infra"]
