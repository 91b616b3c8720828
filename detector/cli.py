"""``distillguard`` command line, built by :func:`build_app`: the core's detection commands, plus the
commands of the optional layers (streams, api) listed by the ``distillguard.commands`` entry-point group.

Each entry point is a function returning :class:`LayerCommand` s, so the core never imports a layer and
nothing registers itself on import. A command whose extra is not installed stays listed, and says which
extra to install when it is invoked.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from importlib.util import find_spec

import typer
from rich.markup import escape

from distillguard.detector.commands import detect, evaluate, ingest, simulate, train

COMMAND_ENTRY_POINTS = "distillguard.commands"
EXIT_MISSING_EXTRA = 3
# The top-level modules each pip extra of pyproject.toml brings, as far as the CLI needs to know.
EXTRA_MODULES = {
    "stream": ("faust", "aiokafka", "kafka", "prometheus_client"),
    "api": ("fastapi", "sqlalchemy", "alembic", "uvicorn"),
}


@dataclass(frozen=True)
class LayerCommand:
    """A command (a function) or command group (a Typer app) an optional layer adds to the CLI."""

    name: str
    target: Callable[..., None] | typer.Typer
    what: str  # what the command runs, for the missing-extra message: "the stream worker"
    extras: tuple[str, ...]  # the pip extras (keys of EXTRA_MODULES) it needs: ("stream",)

    def missing(self) -> list[str]:
        """The needed modules this installation lacks."""
        return [m for extra in self.extras for m in EXTRA_MODULES[extra] if find_spec(m) is None]

    def install_hint(self) -> str:
        """One line naming the extras to install."""
        return f"{self.what} needs: pip install 'distillguard[{','.join(self.extras)}]'"


def build_app() -> typer.Typer:
    """A fresh ``distillguard`` app: the core commands and every installed layer's commands."""
    app = typer.Typer(
        name="distillguard",
        help="Detect distillation attacks: coordinated account networks harvesting a model API.",
        no_args_is_help=True,
        pretty_exceptions_show_locals=False,
        add_completion=False,
    )
    for command in (simulate, ingest, detect, evaluate, train):
        app.command()(command)
    for layer in layer_commands():
        add_layer_command(app, layer)
    return app


def layer_commands() -> Iterable[LayerCommand]:
    """The commands of every ``distillguard.commands`` entry point, in entry-point name order."""
    for ep in sorted(entry_points(group=COMMAND_ENTRY_POINTS), key=lambda ep: ep.name):
        try:
            provide = ep.load()
        except ImportError as exc:  # a broken installation: the layer's CLI module itself does not import
            typer.echo(f"warning: command group {ep.name!r} unavailable: {exc}", err=True)
            continue
        yield from provide()


def add_layer_command(app: typer.Typer, command: LayerCommand) -> None:
    """Add ``command`` to ``app``; without its extra, as a stand-in that names the extra."""
    missing = command.missing()
    if isinstance(command.target, typer.Typer):
        if missing:
            command.target.callback(invoke_without_command=True)(_unavailable(command))
        app.add_typer(command.target, name=command.name)
        return
    if not missing:
        app.command(command.name)(command.target)
        return
    summary = (inspect.getdoc(command.target) or "").partition("\n")[0]
    help_text = escape(f"{summary} (not installed: {command.install_hint()})")  # help is rich markup: keep [extra]
    app.command(command.name, help=help_text)(
        functools.wraps(command.target)(lambda **_options: _unavailable(command)())
    )  # same options, then the error


def _unavailable(command: LayerCommand) -> Callable[[], None]:
    def unavailable() -> None:
        typer.echo(f"error: {command.install_hint()}", err=True)
        raise typer.Exit(EXIT_MISSING_EXTRA)

    return unavailable


def main() -> None:
    """Console-script entry point."""
    build_app()()
