"""Streamed downloads as CSV or JSON Lines: the columns come from a response body's pydantic model, the rows from
a generator, so a download of any size is written row by row and never held in memory.

CSV cells are safe for spreadsheets: a text cell starting with a character a spreadsheet reads as a formula
(``=``, ``+``, ``-``, ``@``, tab, carriage return) is prefixed with ``'`` (CSV injection); quotes, commas and
newlines are quoted by :mod:`csv`. JSON Lines rows are the bodies as the API serves them, unchanged.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from enum import StrEnum
from functools import cache
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin

from fastapi.responses import StreamingResponse
from pydantic import BaseModel

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet may evaluate a cell starting with one of these
FORMULA_GUARD = "'"  # what such a cell is prefixed with
LIST_SEPARATOR = "; "  # between the items of a list in one CSV cell
NESTED = "."  # a nested model's columns are named parent.field
CHUNK_CHARS = 64 * 1024  # lines are sent in chunks of about this many characters


class ExportFormat(StrEnum):
    """The format of a download."""

    csv = "csv"
    jsonl = "jsonl"


MEDIA_TYPES = {ExportFormat.csv: "text/csv; charset=utf-8", ExportFormat.jsonl: "application/x-ndjson"}
# The OpenAPI response of a download route.
DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An attachment: CSV (`format=csv`) or JSON Lines (`format=jsonl`)",
        "content": {"text/csv": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}}},
    }
}


def _nested_model(annotation: object) -> type[BaseModel] | None:
    """The model a field holds (``Model`` or ``Model | None``), or None for any other type."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, UnionType):
        models = [a for a in get_args(annotation) if a is not NoneType]
        if len(models) == 1:
            return _nested_model(models[0])
    return None


def columns(model: type[BaseModel], *lead: str) -> list[str]:
    """The CSV columns of ``model``: ``lead`` first, then its other fields in declaration order (a nested model's
    as ``field.subfield``)."""
    rest = [NESTED.join(path) for path in _paths(model)]
    return [*lead, *(c for c in rest if c not in lead)]


def neutralised(text: str) -> str:
    """``text`` as a spreadsheet shows it, never as a formula: prefixed with ``'`` when it starts like one."""
    return FORMULA_GUARD + text if text.startswith(FORMULA_LEADS) else text


def cell(value: object) -> str | int | float:
    """One CSV cell of a JSON value: numbers as they are, text neutralised (:func:`neutralised`), a list's items
    joined by ``; ``, an object as compact JSON, null and absent as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return value
    if isinstance(value, list):
        value = LIST_SEPARATOR.join(str(v) for v in value)
    elif isinstance(value, dict):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return neutralised(str(value))


@cache
def _paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> tuple[tuple[str, ...], ...]:
    """The key path of each CSV column of ``model`` (:func:`columns`) in its JSON form."""
    out: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        nested = _nested_model(field.annotation)
        out += _paths(nested, (*prefix, name)) if nested else [(*prefix, name)]
    return tuple(out)


def _flat(data: dict, model: type[BaseModel]) -> dict[str, object]:
    """``data`` (``model`` as JSON) by CSV column (:func:`columns`)."""
    out: dict[str, object] = {}
    for path in _paths(model):
        value: object = data
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        out[NESTED.join(path)] = value
    return out


def csv_lines(header: list[str], rows: Iterable[BaseModel]) -> Iterator[str]:
    """The header line, then one line per row: its values under ``header`` (a column its model lacks is empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: Iterable[object]) -> str:
        writer.writerow(values)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(header)
    for row in rows:
        flat = _flat(row.model_dump(mode="json"), type(row))
        yield line(cell(flat.get(c)) for c in header)


def jsonl_lines(rows: Iterable[BaseModel]) -> Iterator[str]:
    """One JSON object per line: each row as the API serves it."""
    for row in rows:
        yield row.model_dump_json() + "\n"


def _chunks(lines: Iterator[str]) -> Iterator[bytes]:
    """``lines`` encoded, several to a chunk of about :data:`CHUNK_CHARS` (not one network write per row)."""
    batch: list[str] = []
    size = 0
    for line in lines:
        batch.append(line)
        size += len(line)
        if size >= CHUNK_CHARS:
            yield "".join(batch).encode()
            batch, size = [], 0
    if batch:
        yield "".join(batch).encode()


def download(fmt: ExportFormat, filename: str, header: list[str], rows: Iterator[BaseModel]) -> StreamingResponse:
    """A streamed attachment ``filename.<fmt>`` of ``rows`` (CSV under ``header``, see :func:`columns`)."""
    lines = csv_lines(header, rows) if fmt is ExportFormat.csv else jsonl_lines(rows)
    return StreamingResponse(
        _chunks(lines),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}.{fmt.value}"'},
    )
