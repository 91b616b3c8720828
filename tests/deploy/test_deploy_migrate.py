"""deploy/migrate.py, the image's one-shot migration step: given an empty database, the newest schema."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from alembic.script import ScriptDirectory

from distillguard.api.database import alembic_config

MIGRATE = Path(__file__).resolve().parents[2] / "deploy" / "migrate.py"


def run_migrate(url: str) -> subprocess.CompletedProcess:
    env = os.environ | {"DATABASE_URL": url, "LOG_JSON": "true"}
    return subprocess.run([sys.executable, str(MIGRATE)], env=env, capture_output=True, text=True, timeout=60)


def test_brings_an_empty_database_to_head_and_is_idempotent(tmp_path):
    db = tmp_path / "review.db"
    url = f"sqlite:///{db}"
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    for _ in range(2):  # the second run finds the schema at head and changes nothing
        out = run_migrate(url)
        assert out.returncode == 0, out.stderr
        assert '"event": "database at head"' in out.stderr
        with sqlite3.connect(db) as conn:
            assert conn.execute("select version_num from alembic_version").fetchall() == [(head,)]
            tables = {r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")}
    assert {"account_verdicts", "cases", "api_tokens", "enforcement_outbox"} <= tables


def test_an_unreachable_database_fails_without_printing_the_password(tmp_path):
    out = run_migrate("postgresql+psycopg://dg:s3cret-pw@127.0.0.1:1/distillguard?connect_timeout=2")
    assert out.returncode == 1
    assert '"event": "database unavailable"' in out.stderr and "Connection refused" in out.stderr
    assert "Traceback" not in out.stderr
    assert "s3cret-pw" not in out.stdout + out.stderr and "dg:***@127.0.0.1:1" in out.stderr
