"""An uploaded CSV's byte stream cut into blocks that end on record boundaries.

Each block can be parsed on its own, so a file of any size is read with one block in memory,
and each block knows the line it starts on, so a parse error names the line. A line break is a
record boundary when it is outside quotes: with RFC 4180 quoting (``""`` escapes a quote) that
is when an even number of quote characters precede it in the block.

Gathering chunks is all the event loop does (``gathered``); joining, cutting and counting lines
are byte-wide work, done by ``BlockCutter`` on the parsing thread.
"""

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass

BLOCK_BYTES = 8 * 1024 * 1024
"""Large enough for polars to parse at full speed, small enough to keep memory flat."""
MAX_RECORD_BYTES = 64 * 1024 * 1024


class RecordTooLong(ValueError):
    """No record boundary within ``MAX_RECORD_BYTES``: an unbalanced quote, or not CSV."""

    def __init__(self, line: int, limit: int) -> None:
        super().__init__(
            f"line {line}: a record runs on for more than {limit:,} bytes;"
            ' is a quote (") left open?'
        )


@dataclass(frozen=True, slots=True)
class Block:
    data: bytes
    first_line: int
    """The 1-based line number of the block's first byte."""

    @property
    def last_line(self) -> int:
        return self.first_line + self.data.count(b"\n", 0, max(0, len(self.data) - 1))


def record_boundary(buffer: bytes, quote: int = ord('"')) -> int:
    """The offset just past the last line break outside quotes in ``buffer``, or 0."""
    end = len(buffer)
    odd = buffer.count(quote) % 2
    while (newline := buffer.rfind(b"\n", 0, end)) >= 0:
        odd ^= buffer.count(quote, newline, end) % 2
        if not odd:
            return newline + 1
        end = newline
    return 0


async def gathered(
    chunks: AsyncIterable[bytes], size: int = BLOCK_BYTES
) -> AsyncIterator[list[bytes]]:
    """``chunks`` in groups of at least ``size`` bytes (the last group may be smaller)."""
    group: list[bytes] = []
    total = 0
    async for chunk in chunks:
        group.append(chunk)
        total += len(chunk)
        if total >= size:
            yield group
            group, total = [], 0
    if group:
        yield group


class BlockCutter:
    """Turns pieces of a byte stream into blocks ending on record boundaries."""

    def __init__(self, max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        self._max_record_bytes = max_record_bytes
        self._carry = b""
        self._line = 1

    def feed(self, pieces: Sequence[bytes]) -> Block | None:
        """The records completed by ``pieces``; None while a record is still open."""
        buffer = b"".join([self._carry, *pieces])
        cut = record_boundary(buffer)
        if cut == 0:
            if len(buffer) > self._max_record_bytes:
                raise RecordTooLong(self._line, self._max_record_bytes)
            self._carry = buffer
            return None
        return self._emit(buffer, cut)

    def finish(self) -> Block | None:
        """The rest of the stream, once it has ended."""
        return self._emit(self._carry, len(self._carry)) if self._carry else None

    def _emit(self, buffer: bytes, cut: int) -> Block:
        block = Block(buffer[:cut], self._line)
        self._carry = buffer[cut:]
        self._line += block.data.count(b"\n")
        return block
