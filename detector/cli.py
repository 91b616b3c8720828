"""``distillguard`` command line: the detection commands, plus command groups that other packages
register through the ``distillguard.commands`` entry-point group (streams, api), so the core never
imports them."""

from __future__ import annotations

from importlib.metadata import entry_points

import typer

app = typer.Typer(
    name="distillguard",
    help="Detect distillation attacks: coordinated account networks harvesting a model API.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
)


def _register_plugins() -> None:
    for ep in entry_points(group="distillguard.commands"):
        try:
            register = ep.load()
        except ImportError as exc:  # an optional part that is not installed
            typer.echo(f"warning: command group {ep.name!r} unavailable: {exc}", err=True)
            continue
        register(app)


def main() -> None:
    """Console-script entry point."""
    from distillguard.detector import commands  # noqa: F401  (registers the core commands on ``app``)

    _register_plugins()
    app()
