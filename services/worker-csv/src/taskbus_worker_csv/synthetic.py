"""Deterministic synthetic CSV: the seed's ``num_rows`` input.

Row ``i`` of seed ``s`` is the same on every machine and every polars version: values come
from a fixed 32-bit integer hash (Wellons' lowbias32) of the row index, computed with masked
``UInt64`` arithmetic for large tables and with plain integers and floats for small ones (both
give the same bytes), rather than from ``Expr.hash``, whose output polars does not keep stable
across releases.
"""

import io
import math
from collections.abc import Iterator

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


_SALTS = range(1, 9)
_HEADER = "amount,quantity,temperature,category\n"
PLAIN_ROWS = 256
"""Up to this many rows are drawn and formatted in plain Python, which beats polars, whose
every Series operation costs tens of microseconds whatever its length: 10 rows take some
2 ms drawn vectorised and written by ``write_csv``, 0.05 ms row by row (4.5 us a row)."""


def _uniforms(seed: int, start: int, stop: int) -> pl.DataFrame:
    """Column ``u<salt>`` holds a float in [0, 1) per row: one independent stream per salt."""
    keys = {salt: _seed_key(seed, salt) for salt in _SALTS}
    scale = float(1 << 32)
    rows = _lowbias32(pl.int_range(start, stop, dtype=pl.UInt64, eager=True))
    return pl.DataFrame({f"u{salt}": _lowbias32(rows ^ key) / scale for salt, key in keys.items()})


def _with_nulls(values: pl.Expr, salt: int, rate: float) -> pl.Expr:
    """``values`` with about ``rate`` of them replaced by nulls."""
    return pl.when(pl.col(f"u{salt}") >= rate).then(values)


def _frame(seed: int, start: int, stop: int) -> pl.DataFrame:
    uniform = pl.col
    # Squaring skews the categories so "top" has a clear order.
    category = (uniform("u7") ** 2 * len(_CATEGORIES)).cast(pl.Int64)
    return _uniforms(seed, start, stop).select(
        amount=_with_nulls((uniform("u1") * 1000).round(2), 2, 0.05),
        quantity=_with_nulls((uniform("u3") * 100).cast(pl.Int64) + 1, 4, 0.03),
        temperature=_with_nulls((uniform("u5") * 60 - 20).round(1), 6, 0.01),
        category=_with_nulls(
            category.replace_strict(range(len(_CATEGORIES)), _CATEGORIES, return_dtype=pl.String),
            8,
            0.02,
        ),
    )


def _round(value: float, scale: int) -> float:
    """polars' ``round``: ``round_ties_even(value * scale) / scale``, keeping a zero's sign."""
    return math.copysign(round(value * scale), value) / scale


def _plain_rows(seed: int, start: int, stop: int) -> Iterator[str]:
    """``_frame``'s rows formatted as ``write_csv`` formats them, in plain Python.

    ``repr`` writes floats as ``write_csv`` does for these values, multiples of 0.01 from -20
    up to 1000 (the two part below 1e-4: "1e-05" against "0.00001"), and -0.0 as "-0.0".
    """
    keys = [_seed_key(seed, salt) for salt in _SALTS]
    scale = float(1 << 32)
    for row in range(start, stop):
        mixed = _lowbias32_scalar(row)
        u1, u2, u3, u4, u5, u6, u7, u8 = [_lowbias32_scalar(mixed ^ key) / scale for key in keys]
        amount = repr(_round(u1 * 1000, 100)) if u2 >= 0.05 else ""
        quantity = str(int(u3 * 100) + 1) if u4 >= 0.03 else ""
        temperature = repr(_round(u5 * 60 - 20, 10)) if u6 >= 0.01 else ""
        category = _CATEGORIES[int(u7 * u7 * len(_CATEGORIES))] if u8 >= 0.02 else ""
        yield f"{amount},{quantity},{temperature},{category}\n"


def synthetic_csv(seed: int, start: int, stop: int, *, header: bool = True) -> bytes:
    """Rows ``start`` to ``stop`` (exclusive) of the table of ``seed``, as CSV text.

    A null is an empty cell, as spreadsheets write it.
    """
    if stop - start <= PLAIN_ROWS:
        rows = "".join(_plain_rows(seed, start, stop))
        return ((_HEADER if header else "") + rows).encode()
    buffer = io.BytesIO()
    _frame(seed, start, stop).write_csv(buffer, include_header=header)
    return buffer.getvalue()
