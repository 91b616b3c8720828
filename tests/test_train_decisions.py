"""Analysts' decisions become training labels: `distillguard train --with-decisions` reads the confirmed and
dismissed accounts from the review database, trains on them beside the simulated days, and every verdict
of the new model names its version, which decisions made on those verdicts record."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from distillguard.api.auth.service import Principal
from distillguard.api.cases.service import decisions, get_case, open_case, transition
from distillguard.api.database import migrate, session_scope
from distillguard.api.detections.service import upsert_detections
from distillguard.detector.records import verdict_from_json
from distillguard.detector.simulate import simulate

EXE = str(Path(sys.executable).with_name("distillguard"))
LEAD = Principal(name="lead-1", role="lead", token_id=0)


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    r = subprocess.run([EXE, *args], env=os.environ | env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.mark.slow
def test_train_with_decisions_learns_from_analysts_and_verdicts_name_the_model(tmp_path: Path) -> None:
    simulate(tmp_path / "day", seed=9, scale=0.05, scenario="standard", redact=0.0)
    events = tmp_path / "day" / "events.jsonl.gz"
    truth = json.loads((tmp_path / "day" / "labels.json").read_text())
    db = f"sqlite:///{tmp_path / 'review.db'}"
    env = {"DATABASE_URL": db, "LOG_LEVEL": "WARNING"}
    migrate(db)

    _run("detect", str(events), "--out", str(tmp_path / "v0.jsonl"), env=env)
    first = [verdict_from_json(line) for line in (tmp_path / "v0.jsonl").read_bytes().splitlines()]
    attackers = sorted(v.account_id for v in first if v.flagged and truth[v.account_id]["attack"])[:12]
    legit = sorted(a for a, t in truth.items() if not t["attack"])[:8]
    assert len(attackers) == 12
    with session_scope(db) as s:
        upsert_detections(s, first, [])
        cases = []
        for ids, final in ((attackers, "confirmed_attack"), (legit, "dismissed")):
            for acc in ids:
                case = open_case(s, LEAD, "account", acc, "review", None)
                transition(s, LEAD, case, "in_review", None)
                transition(s, LEAD, get_case(s, case.id), final, "reviewed")
                cases.append(case.id)
        recorded = {d.model_version for c in cases for d in decisions(s, get_case(s, c))}
    assert recorded == {first[0].model_version}  # each decision names the model whose verdict it judged

    out = tmp_path / "model.joblib"
    r = _run(
        "train",
        "--with-decisions",
        "--events",
        str(events),
        "--scale",
        "0.05",
        "--data-dir",
        str(tmp_path / "train"),
        "--out",
        str(out),
        env=env,
    )
    assert "20 analyst decisions" in r.stderr
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["with_decisions"] is True and card["training"]["extra_rows"] >= 20
    assert card["version"] != first[0].model_version

    _run("detect", str(events), "--out", str(tmp_path / "v1.jsonl"), "--model", str(out), env=env)
    again = [verdict_from_json(line) for line in (tmp_path / "v1.jsonl").read_bytes().splitlines()]
    assert {v.model_version for v in again} == {card["version"]}
