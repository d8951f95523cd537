"""Column statistics checked against an independent computation with ``csv`` + ``statistics``."""

import csv
import io
import math
import statistics
from collections import Counter

import polars as pl
import pytest
from csv_hooks import Hooks
from taskbus_worker_csv.column_stats import NumericSummary, TableStats, TextSummary
from taskbus_worker_csv.handler import summarise
from taskbus_worker_csv.sources import synthetic_batches
from taskbus_worker_csv.synthetic import synthetic_csv

NUMERIC = ("amount", "quantity", "temperature")


def _independent_columns(text: bytes) -> dict[str, list[str]]:
    rows = list(csv.DictReader(io.StringIO(text.decode())))
    return {name: [row[name] for row in rows] for name in rows[0]}


async def test_statistics_equal_an_independent_computation() -> None:
    num_rows, seed = 5_000, 3
    result = await summarise(synthetic_batches(num_rows, seed), processing_time=0, hooks=Hooks())
    columns = _independent_columns(synthetic_csv(seed, 0, num_rows))

    assert result.rows == num_rows
    assert set(result.columns) == set(columns)
    for name in NUMERIC:
        cells = columns[name]
        values = [float(cell) for cell in cells if cell != ""]
        summary = result.columns[name]
        assert isinstance(summary, NumericSummary)
        assert summary.count == len(values)
        assert summary.nulls == cells.count("") > 0
        assert summary.sum == pytest.approx(math.fsum(values), rel=1e-12)
        assert summary.mean == pytest.approx(statistics.fmean(values), rel=1e-12)
        assert summary.min == min(values)
        assert summary.max == max(values)
        assert summary.std == pytest.approx(statistics.stdev(values), rel=1e-9)

    cells = columns["category"]
    counts = Counter(cell for cell in cells if cell != "")
    summary = result.columns["category"]
    assert isinstance(summary, TextSummary)
    assert summary.count == sum(counts.values())
    assert summary.nulls == cells.count("") > 0
    assert summary.distinct == len(counts)
    assert summary.distinct_exact
    assert [(top.value, top.count) for top in summary.top] == counts.most_common(5)


def test_integer_sums_are_exact_beyond_int64() -> None:
    stats = TableStats()
    big = 2**62
    for _ in range(3):
        stats.add(pl.DataFrame({"n": pl.Series([big, big, None], dtype=pl.Int64)}))

    summary = stats.result().columns["n"]

    assert isinstance(summary, NumericSummary)
    assert summary.sum == 6 * big
    assert (summary.count, summary.nulls, summary.min, summary.max) == (6, 3, big, big)
    assert summary.std == 0


def test_nan_counts_as_null_and_empty_columns_have_no_moments() -> None:
    stats = TableStats()
    stats.add(
        pl.DataFrame(
            {
                "x": [1.5, float("nan"), None],
                "empty": pl.Series([None, None, None], dtype=pl.Float64),
            }
        )
    )

    x, empty = stats.result().columns["x"], stats.result().columns["empty"]

    assert x == NumericSummary(count=1, nulls=2, sum=1.5, mean=1.5, min=1.5, max=1.5, std=None)
    assert empty == NumericSummary(
        count=0, nulls=3, sum=None, mean=None, min=None, max=None, std=None
    )


def test_distinct_values_past_the_limit_are_reported_as_inexact() -> None:
    stats = TableStats(distinct_limit=3, top=2)
    stats.add(pl.DataFrame({"word": ["a", "b", "a", "c"]}))
    stats.add(pl.DataFrame({"word": ["d", "a", "e", None]}))

    summary = stats.result().columns["word"]

    assert isinstance(summary, TextSummary)
    assert (summary.count, summary.nulls, summary.distinct) == (7, 1, 3)
    assert not summary.distinct_exact
    assert [(top.value, top.count) for top in summary.top] == [("a", 3), ("b", 1)]


def test_non_numeric_types_are_summarised_as_text() -> None:
    stats = TableStats()
    stats.add(pl.DataFrame({"flag": [True, False, True]}))

    summary = stats.result().columns["flag"]

    assert isinstance(summary, TextSummary)
    assert [(top.value, top.count) for top in summary.top] == [("true", 2), ("false", 1)]


def test_infinite_values_never_put_nan_or_infinity_into_the_result() -> None:
    stats = TableStats()
    stats.add(pl.DataFrame({"x": [1.0, float("inf"), 3.0]}))

    summary = stats.result().columns["x"]

    assert isinstance(summary, NumericSummary)
    assert (summary.count, summary.min, summary.max) == (3, 1.0, None)
    assert summary.sum is None
    assert summary.std is None
    assert "NaN" not in stats.result().model_dump_json()
