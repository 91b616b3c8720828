"""Terminal output shared by every ``distillguard`` command: messages on stderr, errors that exit, progress bars."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn

err = Console(stderr=True, soft_wrap=True)  # one message per line, greppable when redirected


def fail(message: str, code: int = 2) -> NoReturn:
    """Print ``error: message`` (user text escaped from rich markup) and exit with ``code``."""
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(code)


def note(tag: str, colour: str, message: str) -> None:
    """Print one tagged line about a line of a user's file (``skipped events.jsonl:12: ts: ...``)."""
    err.print(f"[{colour}]{tag}[/{colour}] {escape(message)}")


def progress(label: str, *columns: ProgressColumn) -> Progress:
    """A progress bar on stderr (hidden when stderr is no terminal): the label, a bar, ``columns``, time taken."""
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        *columns,
        TimeElapsedColumn(),
        console=err,
        disable=not err.is_terminal,
    )
