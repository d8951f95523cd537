"""The plain aggregates are polars' to the bit: same additions in the same order."""

import math
import struct

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from taskbus_worker_csv.column_stats import _NumericColumn
from taskbus_worker_csv.plain_sums import aggregates, float_sum

# Magnitudes far apart, so that the order of the additions shows in the last bits.
FLOATS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(-1e6, 1e6),
    st.integers(-100, 100).map(float),
    st.sampled_from([0.0, -0.0, 0.1, 1e-300, 1e300, -1e300, math.inf, -math.inf]),
)
# Lengths around the 128-element blocks and the 16 lanes.
LENGTHS = st.one_of(st.integers(0, 40), st.integers(120, 520))


def _bits(value: object) -> object:
    """Floats by their bits, so that -0.0 and 0.0 differ; any NaN is NaN (the results hold
    none: ``_finite`` makes it null, whatever its sign)."""
    if isinstance(value, float):
        return "NaN" if math.isnan(value) else struct.pack("<d", value)
    return value


def _polars_aggregates(values: list[int | float | None], dtype: pl.DataType) -> tuple[object, ...]:
    column = _NumericColumn("x", integral=dtype.is_integer(), floating=dtype.is_float())
    frame = pl.DataFrame({"x": pl.Series(values, dtype=dtype)})
    return frame.select(e.alias(str(k)) for k, e in enumerate(column.aggregates())).row(0)


@settings(max_examples=200, deadline=None)
@given(LENGTHS.flatmap(lambda n: st.lists(FLOATS, min_size=n, max_size=n)))
def test_float_sum_is_polars_sum(values: list[float]) -> None:
    expected = pl.Series(values, dtype=pl.Float64).sum()

    assert _bits(float_sum(values)) == _bits(expected)


@settings(max_examples=200, deadline=None)
@given(LENGTHS.flatmap(lambda n: st.lists(st.none() | FLOATS, min_size=n, max_size=n)))
def test_float_aggregates_are_polars_aggregates(values: list[float | None]) -> None:
    expected = _polars_aggregates(list(values), pl.Float64())

    actual = aggregates(values, integral=False)

    assert actual[:2] == expected[:2]
    if actual[1] == 0:
        return  # merge takes nothing else from an empty batch
    assert [_bits(v) for v in actual[2:5]] == [_bits(v) for v in expected[2:5]]
    present = [v for v in values if v is not None]
    zeros = {math.copysign(1, v) for v in present if v == 0}
    # Both signed zeros at the minimum or maximum: polars picks either, and the plain reader
    # leaves such a column to polars.
    if len(zeros) < 2 or 0 not in (actual[5], actual[6]):
        assert [_bits(v) for v in actual[5:]] == [_bits(v) for v in expected[5:]]


@settings(max_examples=200, deadline=None)
@given(
    LENGTHS.flatmap(
        lambda n: st.lists(
            st.none() | st.integers(-(2**63), 2**63 - 1) | st.integers(-1000, 1000),
            min_size=n,
            max_size=n,
        )
    )
)
def test_integer_aggregates_are_polars_aggregates(values: list[int | None]) -> None:
    expected = _polars_aggregates(list(values), pl.Int64())

    actual = aggregates(values, integral=True)

    if actual[1] == 0:
        assert actual[:2] == expected[:2]
        return
    assert [_bits(v) for v in actual] == [_bits(v) for v in expected]
    assert [type(v) for v in actual] == [type(v) for v in expected]
