"""worker-email: serves the ``email`` app until SIGTERM or SIGINT."""

from taskbus.cli.worker import serve

from taskbus_worker_email.tasks import app


def main() -> None:
    serve(app)
