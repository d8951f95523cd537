"""Per-column statistics accumulated batch by batch, so memory does not grow with the input.

Numeric columns merge each batch's count, mean and sum of squared deviations with Chan et al.'s
parallel update, which stays accurate over millions of rows where a running sum of squares would
not. ``std`` is the sample standard deviation (n - 1), as pandas, polars and ``statistics.stdev``
report it. Text columns count values exactly up to ``distinct_limit`` different values; past that,
new values are no longer tracked, ``distinct`` becomes a lower bound and ``distinct_exact`` says so.
Float ``NaN`` cells count as nulls.

A batch is a polars frame or a :class:`PlainTable` read without polars; the plain aggregates
(``plain_sums``) are polars' to the bit, so both fold into one result the same way.
"""

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Literal, cast

import polars as pl
from pydantic import BaseModel

from taskbus_worker_csv.plain_csv import PlainTable
from taskbus_worker_csv.plain_sums import aggregates
from taskbus_worker_csv.plain_types import Kind

Number = int | float
Numbers = Sequence[Number | None]
Texts = Sequence[str | None]


class NumericSummary(BaseModel):
    kind: Literal["numeric"] = "numeric"
    count: int
    nulls: int
    sum: Number | None
    mean: float | None
    min: Number | None
    max: Number | None
    std: float | None


class TopValue(BaseModel):
    value: str
    count: int


class TextSummary(BaseModel):
    kind: Literal["text"] = "text"
    count: int
    nulls: int
    distinct: int
    distinct_exact: bool
    top: list[TopValue]


class CsvResult(BaseModel):
    rows: int
    columns: dict[str, NumericSummary | TextSummary]


def _finite(value: Number | None) -> Number | None:
    """JSON has no NaN or infinity: an overflowing column reports null instead."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _NumericColumn:
    def __init__(self, name: str, *, integral: bool, floating: bool) -> None:
        self._name = name
        self.integral = integral
        self._floating = floating
        self._count = 0
        self._nulls = 0
        self._sum: Number = 0
        self._mean = 0.0
        self._m2 = 0.0
        self._min: Number | None = None
        self._max: Number | None = None

    def aggregates(self) -> list[pl.Expr]:
        """What a batch contributes, as expressions: every numeric column in one query."""
        values = pl.col(self._name)
        if self._floating:
            values = values.fill_nan(None)
        floats = values.cast(pl.Float64)
        # Integers are summed exactly: Int128 cannot overflow on any CSV that fits on a disk.
        total = values.cast(pl.Int128).sum() if self.integral else floats.sum()
        return [
            values.null_count(),
            values.count(),
            floats.mean(),
            ((floats - floats.mean()) ** 2).sum(),
            total,
            values.min(),
            values.max(),
        ]

    def merge(self, batch: tuple[Any, ...]) -> None:
        """Fold in one batch's :meth:`aggregates` with Chan et al.'s parallel update."""
        nulls, n, batch_mean, batch_m2, batch_sum, low, high = batch
        self._nulls += nulls
        if n == 0:
            return
        self._sum += batch_sum
        self._min = low if self._min is None else min(self._min, low)
        self._max = high if self._max is None else max(self._max, high)
        total = self._count + n
        delta = batch_mean - self._mean
        self._mean += delta * n / total
        self._m2 += batch_m2 + delta * delta * self._count * n / total
        self._count = total

    def summary(self) -> NumericSummary:
        empty = self._count == 0
        return NumericSummary(
            count=self._count,
            nulls=self._nulls,
            sum=None if empty else _finite(self._sum),
            mean=None if empty else _finite(self._mean),
            min=_finite(self._min),
            max=_finite(self._max),
            std=_finite(math.sqrt(self._m2 / (self._count - 1))) if self._count > 1 else None,
        )


class _TextColumn:
    def __init__(self, *, distinct_limit: int, top: int) -> None:
        self._distinct_limit = distinct_limit
        self._top = top
        self._count = 0
        self._nulls = 0
        self._values: Counter[str] = Counter()
        self._exact = True

    def add(self, column: pl.Series) -> None:
        if column.dtype != pl.String:
            column = column.cast(pl.String)
        nulls = column.null_count()
        self._fold(len(column) - nulls, nulls, column.drop_nulls().value_counts().iter_rows())

    def add_values(self, values: Sequence[str | None]) -> None:
        counts = Counter(value for value in values if value is not None)
        self._fold(counts.total(), len(values) - counts.total(), counts.items())

    def _fold(self, count: int, nulls: int, counts: Iterable[tuple[str, int]]) -> None:
        self._nulls += nulls
        self._count += count
        for value, n in counts:
            if value in self._values or len(self._values) < self._distinct_limit:
                self._values[value] += n
            else:
                self._exact = False

    def summary(self) -> TextSummary:
        # Ties broken by value so the same input always reports the same "top".
        ranked = sorted(self._values.items(), key=lambda item: (-item[1], item[0]))
        return TextSummary(
            count=self._count,
            nulls=self._nulls,
            distinct=len(self._values),
            distinct_exact=self._exact,
            top=[TopValue(value=value, count=n) for value, n in ranked[: self._top]],
        )


class TableStats:
    """Statistics of a table seen as a sequence of batches sharing one schema."""

    def __init__(self, *, distinct_limit: int = 100_000, top: int = 5) -> None:
        self.rows = 0
        self._distinct_limit = distinct_limit
        self._top = top
        self._columns: dict[str, _NumericColumn | _TextColumn] = {}

    def add(self, batch: pl.DataFrame | PlainTable) -> None:
        """Fold one batch in; a column's kind is fixed by its type in the first batch."""
        if isinstance(batch, PlainTable):
            self._add_plain(batch)
            return
        self.rows += batch.height
        if not self._columns:
            self._columns = {c.name: self._accumulator_for(c.name, c.dtype) for c in batch}
        numeric = [c for c in self._columns.values() if isinstance(c, _NumericColumn)]
        if numeric:
            aggregates = (e for c in numeric for e in c.aggregates())
            # Positional names: the aggregates of a column would all be named after it.
            row = batch.select(e.alias(str(k)) for k, e in enumerate(aggregates)).row(0)
            width = len(row) // len(numeric)
            for i, column in enumerate(numeric):
                column.merge(row[i * width : (i + 1) * width])
        for name, accumulator in self._columns.items():
            if isinstance(accumulator, _TextColumn):
                accumulator.add(batch.get_column(name))

    def _add_plain(self, batch: PlainTable) -> None:
        self.rows += batch.rows
        if not self._columns:
            self._columns = {
                name: self._plain_accumulator_for(name, kind) for name, kind in batch.schema.items()
            }
        # A plain table's numeric columns hold numbers and its other columns text.
        for column, values in zip(self._columns.values(), batch.columns, strict=True):
            if isinstance(column, _NumericColumn):
                column.merge(aggregates(cast(Numbers, values), integral=column.integral))
            else:
                column.add_values(cast(Texts, values))

    def _accumulator_for(self, name: str, dtype: pl.DataType) -> _NumericColumn | _TextColumn:
        if dtype.is_numeric():
            return _NumericColumn(name, integral=dtype.is_integer(), floating=dtype.is_float())
        return _TextColumn(distinct_limit=self._distinct_limit, top=self._top)

    def _plain_accumulator_for(self, name: str, kind: Kind) -> _NumericColumn | _TextColumn:
        if kind in ("int", "float"):
            return _NumericColumn(name, integral=kind == "int", floating=kind == "float")
        return _TextColumn(distinct_limit=self._distinct_limit, top=self._top)

    def result(self) -> CsvResult:
        return CsvResult(
            rows=self.rows,
            columns={name: column.summary() for name, column in self._columns.items()},
        )
