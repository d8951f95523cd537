"""worker-csv: serves the ``csv`` app until SIGTERM or SIGINT."""

from taskbus.cli.worker import serve

from taskbus_worker_csv.tasks import app


def main() -> None:
    serve(app)
