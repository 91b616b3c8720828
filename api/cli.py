"""Commands of the review service: ``distillguard api`` (serve), ``token create|list|revoke`` and
``export-verdicts`` (see :func:`commands`). Nothing here imports the database layer until a command runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distillguard.api.auth.roles import ROLES
from distillguard.detector.cli import LayerCommand
from distillguard.detector.terminal import fail


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default API_PORT).")] = None,
    workers: Annotated[int, typer.Option(help="Uvicorn worker processes.", min=1)] = 1,
) -> None:
    """Serve the review API and console (migrates the database first)."""
    import uvicorn

    from distillguard.api.database import migrate
    from distillguard.api.settings import get_api_settings
    from distillguard.detector.logs import configure_logging
    from distillguard.detector.policy import PolicyError, load_policy
    from distillguard.detector.settings import get_settings

    core, s = get_settings(), get_api_settings()
    configure_logging(core.log_level, core.log_json)
    try:
        load_policy(s.policy_path)  # the app loads it again in each worker; refuse a bad file before serving
    except PolicyError as exc:
        fail(str(exc))
    migrate(s.database_url)
    uvicorn.run(
        "distillguard.api.main:app",
        host=host or s.api_host,
        port=port or s.api_port,
        workers=workers,
        log_level=core.log_level.lower(),
        access_log=False,
    )


def export_verdicts(
    out: Annotated[Path, typer.Option("--out", help="Write one verdict per account (detect's --out format).")],
    database_url: Annotated[str | None, typer.Option("--database-url", help="Default: DATABASE_URL.")] = None,
) -> None:
    """Write the verdicts in the review database as `detect --out` JSON Lines (to compare stream and batch)."""
    from sqlalchemy.exc import SQLAlchemyError

    from distillguard.api.detections.export import read_verdicts
    from distillguard.api.settings import get_api_settings
    from distillguard.detector.records import verdict_line

    try:
        verdicts = read_verdicts(database_url or get_api_settings().database_url)
    except SQLAlchemyError as exc:
        fail(
            f"cannot read verdicts from the review database: {exc.__class__.__name__}: {getattr(exc, 'orig', None) or exc}",
            1,
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(out, "wb") as fh:
            for v in verdicts:
                fh.write(verdict_line(v) + b"\n")
    except OSError as exc:
        fail(f"cannot write {exc.filename or out}: {exc.strerror or exc}")
    typer.echo(f"{len(verdicts):,} verdicts ({sum(v.flagged for v in verdicts):,} flagged) -> {out}", err=True)


def create(
    role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")],
    name: Annotated[str, typer.Option("--name", help="Who or what uses the token (the audit actor).")],
) -> None:
    """Create a token and print it once (only its hash is stored)."""
    if role not in ROLES:
        typer.echo(f"error: unknown role {role!r}; choose one of {', '.join(ROLES)}", err=True)
        raise typer.Exit(2)
    from distillguard.api.auth.service import create_token
    from distillguard.api.errors import ServiceError

    try:
        with _session() as session:
            row, secret = create_token(session, name, role)
    except ServiceError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        raise typer.Exit(2) from None
    typer.echo(secret)
    typer.echo(f"token {row.id} ({name}, {role}) created; it is shown only now", err=True)


def list_tokens() -> None:
    """List tokens (never their secrets)."""
    from distillguard.api.auth.service import list_tokens as stored

    with _session() as session:
        for t in stored(session):
            state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
            typer.echo(f"{t.id}\t{t.name}\t{t.role}\t{t.prefix}…\t{t.created_at:%Y-%m-%d %H:%M}\t{state}")


def revoke(token_id: Annotated[int, typer.Argument(help="Token id (from `token list`).")]) -> None:
    """Revoke a token."""
    from distillguard.api.auth.service import revoke_token

    with _session() as session:
        row = revoke_token(session, token_id)
    if row is None:
        typer.echo(f"error: no token {token_id}", err=True)
        raise typer.Exit(1)
    typer.echo(f"token {token_id} ({row.name}) revoked")


def _session():
    from distillguard.api.database import migrate, session_scope
    from distillguard.api.settings import get_api_settings

    url = get_api_settings().database_url
    migrate(url)
    return session_scope(url)


def token_app() -> typer.Typer:
    """A fresh ``token`` command group."""
    token = typer.Typer(help="API tokens of the review service (stored hashed).", no_args_is_help=True)
    token.command("create")(create)
    token.command("list")(list_tokens)
    token.command("revoke")(revoke)
    return token


def commands() -> list[LayerCommand]:
    """The ``distillguard.commands`` entry point: the review service's commands and what they need."""
    return [
        LayerCommand("api", serve, "the review API", ("api",)),
        LayerCommand("token", token_app(), "token management", ("api",)),
        LayerCommand("export-verdicts", export_verdicts, "export-verdicts", ("api",)),
    ]
