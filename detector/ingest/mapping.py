"""``--from mapping --mapping FILE``: any JSON Lines log, through a declarative mapping from source paths to
``api-event/v1`` fields (JSON, or YAML with PyYAML installed)::

    fields:
      event_id: {path: id}
      ts: {path: received_at, time: epoch_ms}      # rfc3339 (default), epoch_s|ms|us|ns, or a strptime pattern
      account_id: {path: customer.id}
      api_key_id: {path: auth.key, hash: true}      # hashed (blake2b), never the value
      ip: {path: "client.addresses[-1]"}
      model: {path: body.model}
      input_tokens: {path: usage.in}
      output_tokens: {path: usage.out}
      status: {path: http.status}
      endpoint: {const: /v1/chat/completions}

Each rule has ``path`` (dotted keys, ``[n]`` indexes into arrays, negative from the end) or ``const``, and at
most one transform: ``time`` (with ``naive_utc: true`` to read times without an offset as UTC) or ``hash``.
Numbers and booleans written as strings are read as such. Every required event field needs a rule
(``api_key_id`` defaults to the account); a source path that is absent leaves an optional field missing and
drops the line for a required one. A bad mapping file is refused naming the field (``fields.ts.time``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import msgspec
import msgspec.inspect
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from distillguard.detector.events import Event, EventError, parse_with
from distillguard.detector.ingest.convert import PromptMode, apply_prompt_mode, hash_text, parse_time, validated

TIME_FIELDS = frozenset({"ts", "account_created_at"})
PROMPT_FIELDS = frozenset({"prompt", "system_prompt"})
EVENT_FIELDS = frozenset(Event.__struct_fields__) - {"schema_version"}
REQUIRED = frozenset(
    f.name for f in cast(msgspec.inspect.StructType, msgspec.inspect.type_info(Event)).fields if f.required
) - {"schema_version"}
DEFAULTED = {"api_key_id": "account_id"}  # a required field left unmapped takes this one's value
EPOCH_UNITS = {"epoch_s": 1, "epoch_ms": 1e3, "epoch_us": 1e6, "epoch_ns": 1e9}
RFC3339 = "rfc3339"
YAML_SUFFIXES = (".yaml", ".yml")
_SEGMENT = re.compile(r"^(?P<key>[^.\[\]]+)?(?P<indexes>(?:\[-?\d+\])*)$")
_INDEX = re.compile(r"\[(-?\d+)\]")

SourcePath = tuple[str | int, ...]
Scalar = str | int | float | bool


class MappingError(ValueError):
    """A mapping file that cannot be used; the message names the file and the field at fault."""


def compile_path(text: str) -> SourcePath:
    """``"a.b[0].c"`` as ``("a", "b", 0, "c")``; raise ValueError on a malformed path."""
    steps: list[str | int] = []
    for segment in text.split("."):
        m = _SEGMENT.match(segment)
        if not segment or m is None or (m.group("key") is None and not steps and not m.group("indexes")):
            raise ValueError(f"malformed path {text!r}: use dotted keys and [n] indexes, as in a.b[0].c")
        if m.group("key") is not None:
            steps.append(m.group("key"))
        steps.extend(int(i) for i in _INDEX.findall(m.group("indexes")))
    return tuple(steps)


class FieldRule(BaseModel):
    """Where one event field comes from, and how it is transformed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(None, description="Dotted source path, [n] indexes into arrays.")
    const: Scalar | None = Field(None, description="A constant value instead of a path.")
    time: str | None = Field(None, description="rfc3339, epoch_s, epoch_ms, epoch_us, epoch_ns or a strptime pattern.")
    naive_utc: bool = Field(False, description="Read a time without an offset as UTC.")
    hash: bool = Field(False, description="Replace the value by its blake2b hash.")

    @field_validator("path")
    @classmethod
    def _path_compiles(cls, v: str | None) -> str | None:
        if v is not None:
            compile_path(v)
        return v

    @field_validator("time")
    @classmethod
    def _known_time(cls, v: str | None) -> str | None:
        if v is not None and v != RFC3339 and v not in EPOCH_UNITS and "%" not in v:
            raise ValueError(f"expected {RFC3339}, {', '.join(EPOCH_UNITS)} or a strptime pattern (with %)")
        return v

    @model_validator(mode="after")
    def _one_source_one_transform(self) -> FieldRule:
        if (self.path is None) == (self.const is None):
            raise ValueError("give exactly one of path and const")
        if self.time is not None and self.hash:
            raise ValueError("give at most one of time and hash")
        return self


class MappingSpec(BaseModel):
    """A mapping file: one rule per ``api-event/v1`` field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: dict[str, FieldRule]

    @field_validator("fields")
    @classmethod
    def _event_fields(cls, v: dict[str, FieldRule]) -> dict[str, FieldRule]:
        unknown = sorted(set(v) - EVENT_FIELDS)
        if unknown:
            raise ValueError(f"not api-event/v1 fields: {', '.join(unknown)}")
        missing = sorted(REQUIRED - set(v) - set(DEFAULTED))
        if missing:
            raise ValueError(f"required api-event/v1 fields without a rule: {', '.join(missing)}")
        for name, rule in v.items():
            if rule.time is not None and name not in TIME_FIELDS:
                raise ValueError(f"{name}: time applies only to {', '.join(sorted(TIME_FIELDS))}")
        return v


def _read_document(path: Path) -> Any:
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: cannot read ({exc})") from None
    if path.suffix.lower() in YAML_SUFFIXES:
        try:
            import yaml
        except ImportError:
            raise MappingError(
                f"{path}: YAML mapping files need PyYAML (pip install pyyaml); or write the mapping as JSON"
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise MappingError(f"{path}: not valid YAML: {exc}") from None
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise MappingError(f"{path}: not valid JSON: {exc}") from None


def load_mapping(path: str | Path) -> MappingSpec:
    """Read and validate a mapping file; raise :class:`MappingError` naming the field at fault."""
    path = Path(path)
    doc = _read_document(path)
    try:
        return MappingSpec.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "$"
        raise MappingError(f"{path}: {where}: {first['msg']}") from None


def _get(doc: Any, steps: SourcePath) -> Any:
    for step in steps:
        if isinstance(step, int):
            doc = doc[step] if isinstance(doc, list) and -len(doc) <= step < len(doc) else None
        else:
            doc = doc.get(step) if isinstance(doc, dict) else None
        if doc is None:
            return None
    return doc


def _time(value: Any, rule: FieldRule, field: str) -> datetime:
    fmt = rule.time or RFC3339
    if fmt in EPOCH_UNITS:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise EventError(field, "not an epoch timestamp")
        try:
            return datetime.fromtimestamp(float(value) / EPOCH_UNITS[fmt], UTC)
        except (ValueError, OverflowError, OSError):
            raise EventError(field, "not an epoch timestamp (or out of range)") from None
    if fmt != RFC3339:
        if not isinstance(value, str):
            raise EventError(field, f"not text in the format {fmt}")
        try:
            value = datetime.strptime(value, fmt)
        except ValueError:
            raise EventError(field, f"does not match the time format {fmt}") from None
    elif not isinstance(value, str):
        raise EventError(field, "not RFC 3339 text")
    return parse_time(value, field, naive_is_utc=rule.naive_utc)


class MappedLogs:
    """Converts JSON log lines to ``api-event/v1`` events through a mapping file.

    Parameters
    ----------
    spec : the validated mapping (:func:`load_mapping`).
    prompts : what becomes of prompt text (kept, hashed or dropped).
    """

    def __init__(self, spec: MappingSpec, prompts: PromptMode = PromptMode.KEEP) -> None:
        self.spec = spec
        self.prompts = prompts
        self._rules = [
            (name, rule, compile_path(rule.path) if rule.path is not None else None)
            for name, rule in spec.fields.items()
        ]
        self._source = msgspec.json.Decoder()

    def convert(self, raw: bytes) -> Event:
        """The event of one log line; raise :class:`EventError` naming the source path at fault."""
        doc = parse_with(self._source, raw)
        if not isinstance(doc, dict):
            raise EventError("$", "not a JSON object")
        values: dict[str, Any] = {"schema_version": 1}
        for name, rule, steps in self._rules:
            where = rule.path or name
            value = rule.const if steps is None else _get(doc, steps)
            if value is None:
                if name in REQUIRED:
                    raise EventError(where, f"required field is missing (mapped to {name})")
                continue
            if name in TIME_FIELDS:
                value = _time(value, rule, where)
            elif rule.hash:
                value = hash_text(value if isinstance(value, str) else msgspec.json.encode(value).decode())
            if name in PROMPT_FIELDS and isinstance(value, str):
                value = apply_prompt_mode(value, self.prompts)
            values[name] = value
        for name, source in DEFAULTED.items():
            values.setdefault(name, values[source])
        return validated(values, strict=False)  # strict=False: "512" -> 512, "true" -> true
