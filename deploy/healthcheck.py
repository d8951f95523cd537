"""Container HEALTHCHECK: exit 0 when the service's ``/healthz`` answers 200.

Usage: ``taskbus-healthcheck PORT_VARIABLE`` — the name of the environment
variable holding the port (``PORT`` for the API, ``HEALTH_PORT`` elsewhere), so
the check follows the port the service was actually configured with. The slim
image has neither curl nor wget, hence the standard library.
"""

import os
import sys
import urllib.request

# A proxy inherited from the environment has no business seeing loopback requests.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def main(argv: list[str]) -> int:
    port = os.environ.get(argv[1], "") if len(argv) == 2 else ""
    if not port.isdigit():
        print("usage: taskbus-healthcheck PORT_VARIABLE (set to a port number)", file=sys.stderr)
        return 2
    try:
        with _DIRECT.open(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return 0 if response.status == 200 else 1
    except OSError as error:  # URLError and HTTPError (any non-2xx) included
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
