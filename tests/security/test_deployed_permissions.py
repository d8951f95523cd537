"""The shipped NATS configurations grant what `make up` grants (taskbus.devrun.nats_auth)."""

import re
from pathlib import Path

import yaml
from taskbus.devrun.nats_auth import (
    ROLES,
    authorization,
    deployed_authorization,
    password_variable,
    users,
)
from taskbus.subjects import Subjects

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_compose_nats_config_is_the_generated_one() -> None:
    text = (DEPLOY / "nats-auth.conf").read_text()
    assert "include ./nats-auth.conf" in (DEPLOY / "nats.conf").read_text()
    assert text.endswith(deployed_authorization(Subjects()))
    assert not re.search(r'"password": "', text), "a literal password in the repository"


def test_helm_values_grant_the_same_rights() -> None:
    values = yaml.safe_load((DEPLOY / "nats-values.yaml").read_text())
    variables = {role: f"<< ${password_variable(role)} >>" for role in ROLES}
    assert values["config"]["merge"]["authorization"] == authorization(users(Subjects(), variables))
    env = values["container"]["env"]
    assert {name: ref["valueFrom"]["secretKeyRef"]["key"] for name, ref in env.items()} == {
        password_variable(role): role for role in ROLES
    }
