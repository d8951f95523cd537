#!/usr/bin/env bash
# Installs what the Celery + Redis baseline needs, outside the project's environment:
# Debian's redis-server, and Celery with its Redis client in a venv of its own.
# Usage: bench/celery_baseline/setup.sh [VENV]   (default: $CELERY_VENV or /tmp/taskbus-celery-venv)
set -euo pipefail

venv="${1:-${CELERY_VENV:-/tmp/taskbus-celery-venv}}"

if ! command -v redis-server >/dev/null; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server
fi

python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "celery[redis]>=5.5,<6"
echo "Celery baseline ready: $("$venv/bin/celery" --version), $(redis-server --version | cut -d' ' -f1-3)"
