"""Composition root of the API service: settings, logging, uvicorn."""

import uvicorn
from taskbus.logs import configure_logging
from taskbus.tracing import configure_tracing

from taskbus_api.app import create_app
from taskbus_api.redaction import RedactSecrets
from taskbus_api.settings import ApiSettings

# Longer than a client keeps an idle connection for reuse (httpx 5 s, as uvicorn's default):
# with equal limits the server closed connections a client was just sending a POST on, which
# httpx does not retry (a ReadError within 10,000 submits in the bench); proxies use 60-75 s.
_KEEP_ALIVE_S = 75


def main() -> None:
    settings = ApiSettings()
    secret = settings.session_secret
    redactor = RedactSecrets((settings.api_key or "", secret.get_secret_value() if secret else ""))
    configure_logging(
        settings.log_level, settings.log_format, service="api", before_rendering=[redactor]
    )
    configure_tracing("api")
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_keep_alive=_KEEP_ALIVE_S,
        timeout_graceful_shutdown=10,
        proxy_headers=True,
    )
