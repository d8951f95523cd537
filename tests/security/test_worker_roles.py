"""Worker roles come from the apps a deployment runs (taskbus.devrun.nats_auth.worker_roles),
not from a list in the library: an app of several types gets one role with the rights of all
of them, and what would make two services share a consumer or a password is refused."""

import pytest
import taskbus
from apps.dice import app as dice_app
from pydantic import BaseModel
from support.system import BUILTIN_APPS
from taskbus.app import load_app
from taskbus.devrun import main as devrun
from taskbus.devrun.nats_auth import (
    PROJECTOR,
    permissions,
    service_roles,
    worker_role,
    worker_roles,
)
from taskbus.subjects import Subjects


class Empty(BaseModel):
    pass


def app_of(name: str, *task_types: str) -> taskbus.TaskApp:
    app = taskbus.TaskApp(name)
    for task_type in task_types:

        async def handler(ctx: taskbus.TaskContext, params: Empty) -> Empty:
            return params

        app.task(task_type)(handler)
    return app


def test_a_role_per_app_whatever_their_order() -> None:
    roles = worker_roles([dice_app, *BUILTIN_APPS, dice_app])
    assert roles == {
        "worker-csv": ("csv_processing",),
        "worker-email": ("email_sending",),
        "worker-games": ("roll_dice",),
        "worker-image": ("image_processing",),
    }
    assert worker_roles(reversed([*BUILTIN_APPS, dice_app])) == roles
    assert service_roles(roles) == ("api", "projector", *roles)


def test_an_app_of_several_types_may_serve_each_of_them() -> None:
    pdf = app_of("pdf", "pdf_render", "pdf_merge")
    roles = worker_roles([pdf, dice_app])
    allowed = permissions("worker-pdf", Subjects(), roles)["publish"]["allow"]
    for task_type, consumer in (
        ("pdf_render", "worker-pdf-render"),
        ("pdf_merge", "worker-pdf-merge"),
    ):
        assert f"tasks.{task_type}.succeeded.*" in allowed
        assert f"$JS.API.CONSUMER.MSG.NEXT.TASKS.{consumer}" in allowed
        assert f"$KV.taskbus-catalog.{task_type}" in allowed
    assert not any("roll" in subject for subject in allowed)
    denied = permissions(PROJECTOR, Subjects(), roles)["publish"]["deny"]
    for consumer in ("worker-pdf-render", "worker-pdf-merge", "worker-roll-dice"):
        assert f"$JS.API.CONSUMER.MSG.NEXT.TASKS.{consumer}" in denied
        assert f"$JS.API.CONSUMER.DELETE.TASKS.{consumer}" in denied


@pytest.mark.parametrize(
    ("apps", "words"),
    [
        ([app_of("games", "roll_dice"), app_of("games", "flip_coin")], "two apps are named"),
        ([dice_app, app_of("casino", "roll_dice")], "'roll_dice' is served by"),
        ([app_of("empty")], "declares no task type"),
        ([app_of("Big Games", "flip_coin")], "cannot name a NATS role"),
        ([app_of("a-b", "one"), app_of("a_b", "two")], "share a password variable"),
    ],
)
def test_apps_that_cannot_have_roles_of_their_own_are_refused(
    apps: list[taskbus.TaskApp], words: str
) -> None:
    with pytest.raises(ValueError, match=words):
        worker_roles(apps)


def test_a_role_of_no_app_is_refused() -> None:
    with pytest.raises(ValueError, match="no NATS role 'worker-pdf'"):
        permissions("worker-pdf", Subjects(), worker_roles(BUILTIN_APPS))


def test_make_up_runs_each_built_in_as_its_apps_role() -> None:
    """The built-in worker services of ``make up`` are named as their apps' roles, which is
    how each gets the login of its role."""
    workers = [name for name in devrun.SERVICES if name.startswith("worker-")]
    assert workers == [worker_role(load_app(target)) for target in devrun.BUILTIN_APPS]
