"""Streamed downloads as CSV or JSON Lines: the columns come from a response body's pydantic model, the rows from
a generator, so a download of any size is written a batch of rows at a time and never held in memory.

A row is a validated body (a model), or the fields of one read straight from our own database (:func:`body`), which
are not validated again and are written as the model would write them (JSON by msgspec, CSV a column at a time):
the same bytes, several times faster.

CSV cells are safe for spreadsheets: a text cell starting with a character a spreadsheet reads as a formula
(``=``, ``+``, ``-``, ``@``, tab, carriage return) is prefixed with ``'`` (CSV injection); quotes, commas and
newlines are quoted by :mod:`csv`. JSON Lines rows are the bodies as the API serves them, unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from enum import StrEnum
from functools import cache
from itertools import islice, repeat
from types import NoneType, UnionType
from typing import Any, Literal, Union, get_args, get_origin

import msgspec
from fastapi.responses import StreamingResponse
from msgspec import to_builtins
from pydantic import BaseModel
from pydantic_core import to_json

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet may evaluate a cell starting with one of these
FORMULA_GUARD = "'"  # what such a cell is prefixed with
LIST_SEPARATOR = "; "  # between the items of a list in one CSV cell
NESTED = "."  # a nested model's columns are named parent.field
CHUNK_BYTES = 64 * 1024  # lines are sent in chunks of about this many bytes
FORMAT_ROWS = 128  # CSV rows formatted at once (a column at a time, then one writerows): tens of KiB
INF_NAN: Literal["null"] = "null"  # how a model writes inf and nan in JSON by default (ser_json_inf_nan)
# A number msgspec writes with a positive exponent (:1e16; pydantic writes 1e+16), or the like inside a text.
_POSITIVE_EXPONENT = re.compile(rb"[:,\[]-?[0-9]+(?:\.[0-9]+)?e[0-9]")
_encoder = msgspec.json.Encoder()
_OWN_CELLS = frozenset({int, float, NoneType})  # JSON values :mod:`csv` writes as :func:`cell` would
_TEXT = frozenset({str})
_TEXTS = frozenset({str, NoneType})
_OBJECT = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))  # an object cell's JSON


# A row of a download: a response body, validated (a model), or the fields of one read straight from our own database
# (a dict of a model's fields in its order, :func:`body`), written as the model would write them.
Row = BaseModel | dict[str, Any]


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
        value = _list_text(value)
    elif isinstance(value, dict):
        value = _OBJECT.encode(value)
    return neutralised(str(value))


def _list_text(items: list) -> str:
    """The text of a list's cell: its items joined by ``; ``."""
    return LIST_SEPARATOR.join(map(str, items))


# The text of a list's cell and of an object's (:func:`cell`).
_TEXT_OF: dict[type, Callable[[Any], str]] = {list: _list_text, dict: _OBJECT.encode}


@cache
def _paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> tuple[tuple[str, ...], ...]:
    """The key path of each CSV column of ``model`` (:func:`columns`) in its JSON form."""
    out: list[tuple[str, ...]] = []
    for name, field in model.model_fields.items():
        nested = _nested_model(field.annotation)
        out += _paths(nested, (*prefix, name)) if nested else [(*prefix, name)]
    return tuple(out)


def body(model: type[BaseModel], data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``model`` out of ``data``, in the model's order (a nested model's too): what
    ``model.model_validate(data).model_dump()`` gives when ``data`` already holds values of the fields' types (rows
    read from our own database), without validating them again. A field ``data`` lacks is a KeyError."""
    names, nested = _plan(model)
    out = {name: data[name] for name in names}
    for name, inner in nested:
        if out[name] is not None:
            out[name] = body(inner, out[name])
    return out


@cache
def _plan(model: type[BaseModel]) -> tuple[tuple[str, ...], tuple[tuple[str, type[BaseModel]], ...]]:
    """The field names of ``model`` in order, and the fields holding a nested model (with that model)."""
    fields = model.model_fields
    nested = ((name, _nested_model(field.annotation)) for name, field in fields.items())
    return tuple(fields), tuple((name, m) for name, m in nested if m is not None)


def _batches(rows: Iterable[Row]) -> Iterator[list[Row]]:
    """``rows`` in lists of :data:`FORMAT_ROWS`."""
    it = iter(rows)
    while batch := list(islice(it, FORMAT_ROWS)):
        yield batch


def _dicts(rows: list[Row]) -> list[dict[str, Any]]:
    """Each row as a dict: a model as :meth:`BaseModel.model_dump` gives it in JSON mode, a body dict as it is."""
    return [row.model_dump(mode="json") if isinstance(row, BaseModel) else row for row in rows]


def _json_line(row: Row) -> bytes:
    """One JSON Lines line: the row as :meth:`BaseModel.model_dump_json` writes it. A body dict is written by
    msgspec, which writes every value as pydantic does (text, times, null for inf and nan) but a float with a
    positive exponent (``1e16`` for ``1e+16``): a line that may hold one is written by pydantic's serializer."""
    if isinstance(row, BaseModel):
        return row.model_dump_json().encode() + b"\n"
    line = _encoder.encode(row)
    return (to_json(row, inf_nan_mode=INF_NAN) if _POSITIVE_EXPONENT.search(line) else line) + b"\n"


def _column(data: list[dict[str, Any]], path: tuple[str, ...]) -> list[object]:
    """The JSON value at key ``path`` of each row of ``data`` (None where a key is missing or its parent not an
    object), as JSON mode gives it: a body dict's times and enums written by msgspec, alike, numbers left as they
    are."""
    first, *rest = path
    values = [d.get(first) for d in data]
    for key in rest:
        values = [v.get(key) if isinstance(v, dict) else None for v in values]
    return to_builtins(values)


def _cells(values: list[object]) -> list[object]:
    """:func:`cell` of each value of a column, as :mod:`csv` writes it. The common columns skip the calls, written
    alike: numbers (:func:`cell` gives them back) and nulls (:mod:`csv` writes None empty) as they are, texts but
    those that start like a formula too, a column of lists or of objects as their texts."""
    kinds = set(map(type, values))
    if kinds <= _OWN_CELLS:
        return values
    if len(kinds) == 1 and (kind := next(iter(kinds))) in _TEXT_OF:  # a column of lists, or of objects
        values, kinds = list(map(_TEXT_OF[kind], values)), {str}
    if kinds == _TEXT and not any(map(str.startswith, values, repeat(FORMULA_LEADS))):  # type: ignore[arg-type]
        return values
    if kinds <= _TEXTS:
        return [v if v is None or not str(v).startswith(FORMULA_LEADS) else cell(v) for v in values]
    return list(map(cell, values))


def csv_lines(header: list[str], rows: Iterable[Row]) -> Iterator[bytes]:
    """The header line, then the rows' lines, a batch of rows at a time: each row's values under ``header`` (a
    column its body lacks is empty)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def written() -> bytes:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text.encode()

    paths = [tuple(column.split(NESTED)) for column in header]
    writer.writerow(header)
    yield written()
    for batch in _batches(rows):
        data = _dicts(batch)
        writer.writerows(zip(*(_cells(_column(data, path)) for path in paths), strict=True))
        yield written()


def jsonl_lines(rows: Iterable[Row]) -> Iterator[bytes]:
    """One JSON object per line: each row as the API serves it."""
    for row in rows:
        yield _json_line(row)


def _chunks(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """``pieces`` several to a chunk of about :data:`CHUNK_BYTES` (not one network write per row)."""
    batch: list[bytes] = []
    size = 0
    for piece in pieces:
        batch.append(piece)
        size += len(piece)
        if size >= CHUNK_BYTES:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


def download(fmt: ExportFormat, filename: str, header: list[str], rows: Iterable[Row]) -> StreamingResponse:
    """A streamed attachment ``filename.<fmt>`` of ``rows`` (CSV under ``header``, see :func:`columns`)."""
    lines = csv_lines(header, rows) if fmt is ExportFormat.csv else jsonl_lines(rows)
    return StreamingResponse(
        _chunks(lines),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}.{fmt.value}"'},
    )
