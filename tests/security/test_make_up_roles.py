"""``TASKBUS_APPS=apps.dice:app make up``: the worker of an app it is told of logs in as its
app's role, held to its own types as it would be deployed; a ``taskbus worker`` started by
hand gets ``dev-worker`` from ``$DATA_DIR/worker.env``. Checked on the nats-server ``make up``
starts (its Postgres and mail sink are left out: they are given)."""

import uuid
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from pathlib import Path

import nats
import pytest
from taskbus.devrun.main import ServerEnv, service_specs, start_servers, write_worker_env
from taskbus.devrun.settings import DevSettings
from taskbus.subjects import Subjects

from security.test_nats_permissions import Session

pytestmark = pytest.mark.e2e


@pytest.fixture
def make_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerEnv]:
    for name in ("NATS_URL", "NATS_STREAM_REPLICAS", "TASKBUS_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    settings = DevSettings(
        data_dir=tmp_path,
        apps="apps.dice:app",
        database_url="postgresql://unused@127.0.0.1/unused",
        smtp_host="127.0.0.1",
    )
    with ExitStack() as servers:
        yield start_servers(settings, servers, lambda line: None)


async def connect(url: str, env: Mapping[str, str]) -> Session:
    holder: list[Session] = []

    async def on_error(exc: Exception) -> None:
        holder[0].violations.append(str(exc).lower())
        holder[0].reported.set()

    nc = await nats.connect(
        url,
        user=env["NATS_USER"],
        password=env["NATS_PASSWORD"],
        error_cb=on_error,
        allow_reconnect=False,
    )
    holder.append(Session(nc, Subjects()))
    return holder[0]


async def test_an_app_of_taskbus_apps_runs_as_its_own_role(
    make_up: ServerEnv, tmp_path: Path
) -> None:
    specs = {spec.name: spec for spec in service_specs(make_up, 8000, ["apps.dice:app"])}
    games = specs["app-games"].env
    assert games is not None
    assert games["NATS_USER"] == "worker-games"
    assert specs["worker-csv"].env is not None
    assert specs["worker-csv"].env["NATS_USER"] == "worker-csv"
    url = make_up.common["NATS_URL"]

    worker = await connect(url, games)
    try:
        stream = worker.subjects.stream
        own = f"tasks.roll_dice.started.{uuid.uuid4()}"
        assert (await worker.js.publish(own, b"{}", stream=stream)).seq > 0
        other = f"tasks.csv_processing.started.{uuid.uuid4()}"
        await worker.refused(other, lambda: worker.js.publish(other, b"{}", stream=stream))
    finally:
        await worker.nc.close()

    # A worker started by hand, of an app make up was not told of, may serve any type.
    lines = (write_worker_env(tmp_path, make_up)).read_text().splitlines()
    by_hand = dict(line.split("=", 1) for line in lines)
    assert by_hand["NATS_USER"] == "dev-worker"
    anyone = await connect(url, by_hand)
    try:
        subject = f"tasks.csv_processing.started.{uuid.uuid4()}"
        assert (await anyone.js.publish(subject, b"{}", stream=stream)).seq > 0
    finally:
        await anyone.nc.close()
