"""worker-image: serves the ``image`` app until SIGTERM or SIGINT."""

from taskbus.cli.worker import serve

from taskbus_worker_image.tasks import app


def main() -> None:
    serve(app)
