"""A numeric column's batch aggregates in plain Python, bit for bit as polars computes them.

Floats are not associative, so a mean or a sum of squares equals polars' only when the
additions happen in polars' order. ``polars-compute``'s float sum (``float_sum.rs``) adds the
first ``len % 128`` elements left to right, the rest in blocks of 128 summed as 16 lanes
(element ``j`` of every 16 into lane ``j``) whose lanes are folded in halves down to four and
added ``(v0 + v2) + (v1 + v3)``, the blocks themselves added pairwise; a null counts as 0.0 in
its place. ``float_sum`` reproduces that; the agreement tests check it against polars.
"""

from collections.abc import Sequence

Number = int | float

_LANES = 16
_BLOCK = 128


def _block_sum(values: Sequence[float], start: int) -> float:
    lanes = [0.0] * _LANES  # from +0.0, as polars' lanes: -0.0 + 0.0 is 0.0
    for offset in range(start, start + _BLOCK, _LANES):
        for lane, value in enumerate(values[offset : offset + _LANES]):
            lanes[lane] += value
    width = _LANES
    while width > 4:
        width //= 2
        for lane in range(width):
            lanes[lane] += lanes[lane + width]
    return (lanes[0] + lanes[2]) + (lanes[1] + lanes[3])


def _pairwise(values: Sequence[float], start: int, stop: int) -> float:
    if stop - start == _BLOCK:
        return _block_sum(values, start)
    middle = start + (stop - start) // _BLOCK // 2 * _BLOCK
    return _pairwise(values, start, middle) + _pairwise(values, middle, stop)


def float_sum(values: Sequence[float]) -> float:
    """polars' sum of ``values`` (nulls given as 0.0, in their places)."""
    head = len(values) % _BLOCK
    total = 0.0
    for value in values[:head]:
        total += value
    if len(values) > head:
        return _pairwise(values, head, len(values)) + total
    return 0.0 + total


def aggregates(values: Sequence[Number | None], *, integral: bool) -> tuple[object, ...]:
    """What ``_NumericColumn.aggregates`` asks polars for, in that order: nulls, count, mean,
    sum of squared deviations, sum (exact for integers), min and max."""
    present = [v for v in values if v is not None]
    nulls, n = len(values) - len(present), len(present)
    if n == 0:
        return nulls, 0, None, 0.0, 0 if integral else 0.0, None, None
    floats = [0.0 if v is None else float(v) for v in values]
    mean = float_sum(floats) / n
    squares = [
        0.0 if v is None else (f - mean) * (f - mean) for v, f in zip(values, floats, strict=True)
    ]
    total: Number = sum(present) if integral else float_sum(floats)
    return nulls, n, mean, float_sum(squares), total, min(present), max(present)
