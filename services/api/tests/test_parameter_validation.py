"""The API's two validators of a type's parameters schema give the same verdict.

jsonschema-rs says yes or no and the Python validator explains a no
(``taskbus_api.task_types``): were they to disagree, a submit would be accepted that the
API should refuse, or refused with no reason given. Held here over the built-in types'
schemas, with values near their fields (their names, typos of them, every JSON kind).
"""

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from taskbus.app import TaskApp
from taskbus_api.task_types import _Validators
from taskbus_worker_csv.tasks import app as csv_app
from taskbus_worker_email.tasks import app as email_app
from taskbus_worker_image.tasks import app as image_app

SCHEMAS = {
    name: spec.info().parameters_schema
    for app in (csv_app, email_app, image_app)
    for name, spec in app.tasks.items()
}

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
    st.sampled_from(["", "a@b.c", "not an email", "image/png", "x" * 300, "2026-12-02"]),
)
_values = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


def _parameters(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    names = list(schema.get("properties", {}))
    typos = [f"{name}_" for name in names]
    keys = st.sampled_from(names) | st.sampled_from(typos) if names else st.text()
    return st.dictionaries(keys, _values, max_size=len(names) + 1) | _values


def test_every_built_in_type_is_covered() -> None:
    assert set(SCHEMAS) == {"csv_processing", "email_sending", "image_processing"}
    assert all(isinstance(app, TaskApp) for app in (csv_app, email_app, image_app))


@pytest.mark.parametrize("task_type", sorted(SCHEMAS))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_quick_check_and_the_explanation_agree(task_type: str, data: st.DataObject) -> None:
    schema = SCHEMAS[task_type]
    validators = _Validators.of(schema)
    parameters = data.draw(_parameters(schema))
    explained = list(validators.explain(parameters))
    assert validators.fits(parameters) == (not explained), [e.message for e in explained]
