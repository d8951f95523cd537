"""How far a batch got: its checkpoint, a few hundred bytes whatever the batch's size.

A batch checkpoints after every message it sends (see ``handler``), so a checkpoint that grew
with the failures behind it made the log grow with their square: 2,000 refused recipients
logged 9.5 MB. Here a checkpoint holds counts, one bit per recipient handled (compressed,
so a run of alike outcomes costs a few bytes; at most 1.7 kB for the 10,000 recipients a
batch may have) and the replies to the first few failures only.
"""

import base64
import zlib
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field, model_validator

FAILURES_DESCRIBED = 10
"""Failures whose reply is kept; later ones are flagged and counted only."""

REPLY_CHARS = 200
"""Longer replies are cut: a server may answer with many lines."""


class Failure(BaseModel):
    index: int = Field(ge=0)
    error: str


class Checkpoint(BaseModel):
    """The checkpoint's data as logged."""

    next: int = Field(0, ge=0)
    sent: int = Field(0, ge=0)
    failed: int = Field(0, ge=0)
    flags: str = Field("", description="base64 of the zlib'd bitmap: bit i set, recipient i failed")
    failures: list[Failure] = Field(default_factory=list, max_length=FAILURES_DESCRIBED)

    @model_validator(mode="before")
    @classmethod
    def _from_every_index(cls, data: Any) -> Any:
        """Read the checkpoint of a worker before this one, which listed every failed index
        under its reply: an attempt redelivered across an upgrade resumes instead of
        failing, or of mailing everyone again as a new attempt would."""
        if not (isinstance(data, dict) and isinstance(data.get("failed"), dict)):
            return data
        journal = Journal()
        by_index = {i: error for error, indices in data["failed"].items() for i in indices}
        for index in range(int(data.get("next", 0))):
            journal.record(index, by_index.get(index))
        return journal.checkpoint().model_dump()


def _cut(reply: str) -> str:
    return reply if len(reply) <= REPLY_CHARS else reply[: REPLY_CHARS - 1] + "…"


@dataclass
class Journal:
    """Recipients before ``next`` were handled: each either sent or failed."""

    next: int = 0
    sent: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)
    _flags: bytearray = field(default_factory=bytearray)

    @classmethod
    def resume(cls, data: dict[str, Any] | None) -> "Journal":
        saved = Checkpoint.model_validate(data or {})
        flags = bytearray(zlib.decompress(base64.b64decode(saved.flags))) if saved.flags else None
        return cls(
            next=saved.next,
            sent=saved.sent,
            failed=saved.failed,
            failures=list(saved.failures),
            _flags=flags or bytearray(),
        )

    def record(self, index: int, error: str | None) -> None:
        """Recipient ``index`` (the next one) was sent, or failed with ``error``."""
        if error is None:
            self.sent += 1
        else:
            self.failed += 1
            self._flag(index)
            if len(self.failures) < FAILURES_DESCRIBED:
                self.failures.append(Failure(index=index, error=_cut(error)))
        self.next = index + 1

    def failed_at(self, index: int) -> bool:
        byte = index // 8
        return byte < len(self._flags) and bool(self._flags[byte] & (1 << index % 8))

    def checkpoint(self) -> Checkpoint:
        flags = base64.b64encode(zlib.compress(bytes(self._flags))).decode() if self.failed else ""
        return Checkpoint(
            next=self.next,
            sent=self.sent,
            failed=self.failed,
            flags=flags,
            failures=self.failures,
        )

    def _flag(self, index: int) -> None:
        byte = index // 8
        if byte >= len(self._flags):
            self._flags.extend(bytes(byte + 1 - len(self._flags)))
        self._flags[byte] |= 1 << index % 8
