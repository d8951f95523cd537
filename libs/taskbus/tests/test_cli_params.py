"""``-p key=value`` typing: by the task type's JSON Schema, else JSON, else text."""

import pytest
from taskbus.cli.params import parse_params

SCHEMA = {
    "type": "object",
    "properties": {
        "subject": {"type": "string"},
        "num_rows": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
        "ratio": {"type": "number"},
        "has_header": {"type": "boolean"},
        "format": {"$ref": "#/$defs/Format"},
        "recipients": {"type": "array", "items": {"type": "string"}},
        "tag": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    },
    "$defs": {"Format": {"enum": ["JPEG", "PNG"], "type": "string"}},
}


@pytest.mark.parametrize(
    ("pair", "value"),
    [
        ("subject=42", "42"),
        ("subject=true", "true"),
        ("num_rows=10", 10),
        ("num_rows=null", None),
        ("ratio=2", 2),
        ("ratio=0.5", 0.5),
        ("has_header=false", False),
        ("format=PNG", "PNG"),
        ('recipients=["a@example.com"]', ["a@example.com"]),
        ("tag=7", 7),
        ("tag=seven", "seven"),
        ("unknown=[1, 2]", [1, 2]),
        ("unknown=plain text", "plain text"),
        ("subject=a=b", "a=b"),
    ],
)
def test_values_are_typed_by_the_schema(pair: str, value: object) -> None:
    key = pair.partition("=")[0]
    assert parse_params([pair], SCHEMA) == {key: value}


@pytest.mark.parametrize(
    ("pair", "value"),
    [("num_rows=10", 10), ("subject=42", 42), ("subject=hello", "hello"), ("x={}", {})],
)
def test_without_a_schema_json_else_text(pair: str, value: object) -> None:
    key = pair.partition("=")[0]
    assert parse_params([pair], None) == {key: value}


def test_a_pair_without_a_value_is_refused() -> None:
    with pytest.raises(ValueError, match="not key=value"):
        parse_params(["num_rows"], SCHEMA)
