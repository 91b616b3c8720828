"""The source formats ``distillguard ingest --from FORMAT`` reads: an explicit table, name -> adapter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from distillguard.detector.events import Event
from distillguard.detector.ingest.access_log import AccessLogs
from distillguard.detector.ingest.convert import PromptMode
from distillguard.detector.ingest.litellm import LiteLLMSpendLogs
from distillguard.detector.ingest.mapping import MappedLogs, load_mapping
from distillguard.detector.ingest.openai import OpenAILogs


class Adapter(Protocol):
    """Turns one raw source line into one validated ``api-event/v1`` event, or raises ``EventError`` saying why not."""

    def convert(self, raw: bytes) -> Event: ...


@dataclass(frozen=True)
class AdapterOptions:
    """What the command line may set for any format."""

    prompts: PromptMode = PromptMode.KEEP
    mapping: Path | None = None  # the mapping file (``mapping`` only)


@dataclass(frozen=True)
class Format:
    """A source format: its name on the command line, what it reads, and how to build its adapter."""

    name: str
    reads: str
    build: Callable[[AdapterOptions], Adapter]


class FormatError(ValueError):
    """An unknown format, or options a format cannot run with."""


def _mapped(options: AdapterOptions) -> Adapter:
    if options.mapping is None:
        raise FormatError("--from mapping needs --mapping FILE")
    return MappedLogs(load_mapping(options.mapping), options.prompts)


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format(
            "openai",
            "OpenAI-compatible request logs (Chat Completions, Responses API)",
            lambda o: OpenAILogs(o.prompts),
        ),
        Format("nginx", "nginx JSON access logs (the README's log_format)", lambda o: AccessLogs()),
        Format("envoy", "Envoy JSON access logs (the README's json_format)", lambda o: AccessLogs()),
        Format("litellm-spend", "LiteLLM_SpendLogs rows exported as JSON", lambda o: LiteLLMSpendLogs(o.prompts)),
        Format("mapping", "any JSON log, through a mapping file (--mapping)", _mapped),
    )
}


def build_adapter(name: str, options: AdapterOptions) -> Adapter:
    """The adapter of format ``name``; raise :class:`FormatError` (or ``MappingError``) when it cannot be built."""
    fmt = FORMATS.get(name)
    if fmt is None:
        raise FormatError(f"unknown format {name!r}; one of: {', '.join(FORMATS)}")
    return fmt.build(options)
