"""The ingest loop: source lines through an adapter into ``api-event/v1`` JSON lines, written in chunks,
every dropped line counted by its reason (and handed to ``on_reject`` with its line number and text)."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from distillguard.detector.events import UTF8_BOM, EventError, iter_lines
from distillguard.detector.ingest.formats import Adapter

STDIN = "-"
WRITE_CHUNK = 1 << 20  # bytes of event lines gathered before each write
MAX_REASONS = 1000  # distinct reasons counted one by one; further ones are counted together
OTHER_REASONS = "(other reasons)"


@dataclass(frozen=True, slots=True)
class Reject:
    """A source line that did not become an event, and why."""

    lineno: int
    error: EventError
    raw: bytes

    def to_json(self) -> bytes:
        """One line of the ``--rejects`` file: ``{"line", "field", "reason", "raw"}`` (raw as text, invalid UTF-8 replaced)."""
        return msgspec.json.encode(
            {
                "line": self.lineno,
                "field": self.error.field,
                "reason": self.error.reason,
                "raw": self.raw.decode("utf-8", "replace"),
            }
        )


@dataclass
class IngestReport:
    """What an ingest run read, wrote and dropped (``dropped``: ``"field: reason"`` -> lines)."""

    lines: int = 0
    events: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def drop(self, error: EventError) -> None:
        """Count one dropped line under its reason."""
        key = str(error)
        if key not in self.dropped and len(self.dropped) >= MAX_REASONS:
            key = OTHER_REASONS
        self.dropped[key] += 1

    @property
    def dropped_lines(self) -> int:
        return self.lines - self.events


def read_source(source: str | Path, progress: Callable[[int], None] | None = None) -> Iterator[tuple[int, bytes]]:
    """``(line_number, line)`` of non-blank lines of a file (plain or gzip, as :func:`iter_lines`), or of
    standard input for ``-``."""
    if str(source) != STDIN:
        yield from iter_lines(source, progress)
        return
    for lineno, line in enumerate(sys.stdin.buffer, 1):
        line = line.strip()
        if lineno == 1 and line.startswith(UTF8_BOM):
            line = line[len(UTF8_BOM) :].strip()
        if line:
            yield lineno, line


def ingest(
    lines: Iterable[tuple[int, bytes]],
    adapter: Adapter,
    write: Callable[[bytes], object],
    on_reject: Callable[[Reject], object] | None = None,
) -> IngestReport:
    """Convert every line with ``adapter``, ``write`` the events as JSON lines (newline-terminated, in chunks of
    about :data:`WRITE_CHUNK` bytes) and count every line dropped by its reason. A line never stops the run:
    whatever an adapter raises on it is its reason."""
    report = IngestReport()
    convert = adapter.convert
    encode_into = msgspec.json.Encoder().encode_into
    chunk = bytearray()
    for lineno, raw in lines:
        report.lines += 1
        try:
            event = convert(raw)
        except EventError as exc:
            err = exc
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:
            err = EventError("$", f"unreadable line: {exc.__class__.__name__}")
        else:
            encode_into(event, chunk, -1)
            chunk += b"\n"
            if len(chunk) >= WRITE_CHUNK:
                write(bytes(chunk))
                chunk.clear()
            report.events += 1
            continue
        report.drop(err)
        if on_reject is not None:
            on_reject(Reject(lineno, err, raw))
    if chunk:
        write(bytes(chunk))
    return report
