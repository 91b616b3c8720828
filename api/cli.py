"""``distillguard api`` (serve the review service) and ``distillguard token create|list|revoke``."""

from __future__ import annotations

from typing import Annotated

import typer

from distillguard.api.auth.models import ROLES


def register(app: typer.Typer) -> None:
    """Add the review service's commands to the ``distillguard`` CLI."""
    token = typer.Typer(help="API tokens of the review service (stored hashed).", no_args_is_help=True)
    app.add_typer(token, name="token")

    @app.command("api")
    def serve(
        host: Annotated[str | None, typer.Option(help="Bind address (default API_HOST).")] = None,
        port: Annotated[int | None, typer.Option(help="Port (default API_PORT).")] = None,
        workers: Annotated[int, typer.Option(help="Uvicorn worker processes.", min=1)] = 1,
    ) -> None:
        """Serve the review API and console (migrates the database first)."""
        import uvicorn

        from distillguard.api.database import migrate
        from distillguard.detector.logs import configure_logging
        from distillguard.detector.settings import get_settings

        s = get_settings()
        configure_logging(s.log_level, s.log_json)
        migrate(s.database_url)
        uvicorn.run("distillguard.api.main:app", host=host or s.api_host, port=port or s.api_port, workers=workers,
                    log_level=s.log_level.lower(), access_log=False)

    @token.command("create")
    def create(
        role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")],
        name: Annotated[str, typer.Option("--name", help="Who or what uses the token (the audit actor).")],
    ) -> None:
        """Create a token and print it once (only its hash is stored)."""
        if role not in ROLES:
            typer.echo(f"error: unknown role {role!r}; choose one of {', '.join(ROLES)}", err=True)
            raise typer.Exit(2)
        from distillguard.api.auth.service import create_token

        with _session() as session:
            row, secret = create_token(session, name, role)
        typer.echo(secret)
        typer.echo(f"token {row.id} ({name}, {role}) created; it is shown only now", err=True)

    @token.command("list")
    def list_() -> None:
        """List tokens (never their secrets)."""
        from distillguard.api.auth.service import list_tokens

        with _session() as session:
            for t in list_tokens(session):
                state = f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "active"
                typer.echo(f"{t.id}\t{t.name}\t{t.role}\t{t.prefix}…\t{t.created_at:%Y-%m-%d %H:%M}\t{state}")

    @token.command("revoke")
    def revoke(token_id: Annotated[int, typer.Argument(help="Token id (from `token list`).")]) -> None:
        """Revoke a token."""
        from distillguard.api.auth.service import revoke_token

        with _session() as session:
            row = revoke_token(session, token_id)
        if row is None:
            typer.echo(f"error: no token {token_id}", err=True)
            raise typer.Exit(1)
        typer.echo(f"token {token_id} ({row.name}) revoked")


def _session():  # noqa: ANN202 - context manager of a Session
    from distillguard.api.database import migrate, session_scope
    from distillguard.detector.settings import get_settings

    url = get_settings().database_url
    migrate(url)
    return session_scope(url)
