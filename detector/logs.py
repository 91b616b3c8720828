"""Structured logging (structlog) configured once from settings."""

from __future__ import annotations

import logging
import sys

import structlog

from distillguard.detector.settings import get_settings

_configured = False


def configure_logging(level: str | None = None, json: bool | None = None) -> None:
    """Route structlog and stdlib logging to stderr, as JSON lines or console key=value pairs."""
    global _configured
    s = get_settings()
    lvl = getattr(logging, (level or s.log_level).upper(), logging.INFO)
    as_json = s.log_json if json is None else json
    processors: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer(colors=False),
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    logging.basicConfig(level=max(lvl, logging.WARNING), stream=sys.stderr, force=not _configured)
    _configured = True


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger bound to a component name."""
    return structlog.get_logger(component=name)
