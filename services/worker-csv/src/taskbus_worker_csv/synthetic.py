"""Deterministic synthetic CSV: the seed's ``num_rows`` input, generated vectorised.

Row ``i`` of seed ``s`` is the same on every machine and every polars version: values come
from a fixed 32-bit integer hash (Wellons' lowbias32) of the row index, computed with masked
``UInt64`` arithmetic, rather than from ``Expr.hash``, whose output polars does not keep
stable across releases.
"""

import io

import polars as pl

_MASK32 = 0xFFFFFFFF
_CATEGORIES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")


def _lowbias32(x: pl.Series) -> pl.Series:
    # Eager Series on purpose: as expressions, each step would repeat its input twice and the
    # tree would grow to 2**5 copies. Right shifts are floor divisions (no shift operator).
    x = x ^ (x // (1 << 16))
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x // (1 << 15))
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x // (1 << 16))


def _lowbias32_scalar(x: int) -> int:
    """``_lowbias32`` of one value, in plain integers (a one-element Series costs ~0.4 ms)."""
    x ^= x >> 16
    x = (x * 0x7FEB352D) & _MASK32
    x ^= x >> 15
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


def _seed_key(seed: int, salt: int) -> int:
    """Fold an arbitrary seed and a per-column salt into one 32-bit key."""
    return _lowbias32_scalar((seed ^ (salt * 0x9E3779B9)) & _MASK32)


class _Rows:
    """Uniform draws for a range of rows, one independent stream per salt."""

    def __init__(self, seed: int, start: int, stop: int) -> None:
        self._seed = seed
        self._mixed_rows = _lowbias32(pl.int_range(start, stop, dtype=pl.UInt64, eager=True))

    def uniform(self, salt: int) -> pl.Series:
        """A float in [0, 1) per row."""
        return _lowbias32(self._mixed_rows ^ _seed_key(self._seed, salt)) / float(1 << 32)

    def with_nulls(self, values: pl.Series, salt: int, rate: float) -> pl.Series:
        """``values`` with about ``rate`` of them replaced by nulls."""
        return values.zip_with(self.uniform(salt) >= rate, pl.Series([None], dtype=values.dtype))


def _frame(seed: int, start: int, stop: int) -> pl.DataFrame:
    rows = _Rows(seed, start, stop)
    # Squaring skews the categories so "top" has a clear order.
    category = (rows.uniform(7) ** 2 * len(_CATEGORIES)).cast(pl.Int64)
    return pl.DataFrame(
        {
            "amount": rows.with_nulls((rows.uniform(1) * 1000).round(2), 2, 0.05),
            "quantity": rows.with_nulls((rows.uniform(3) * 100).cast(pl.Int64) + 1, 4, 0.03),
            "temperature": rows.with_nulls((rows.uniform(5) * 60 - 20).round(1), 6, 0.01),
            "category": rows.with_nulls(
                category.replace_strict(
                    range(len(_CATEGORIES)), _CATEGORIES, return_dtype=pl.String
                ),
                8,
                0.02,
            ),
        }
    )


def synthetic_csv(seed: int, start: int, stop: int, *, header: bool = True) -> bytes:
    """Rows ``start`` to ``stop`` (exclusive) of the table of ``seed``, as CSV text.

    A null is an empty cell, as spreadsheets write it.
    """
    buffer = io.BytesIO()
    _frame(seed, start, stop).write_csv(buffer, include_header=header)
    return buffer.getvalue()
