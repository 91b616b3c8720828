"""Analysts' decisions become training labels: `distillguard train --with-decisions` reads the confirmed and
dismissed accounts from the review database and trains on them beside the simulated days, so the new model scores
those accounts the way the analysts decided; every verdict of a model names its version, which decisions made on
those verdicts record."""

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
from distillguard.detector.records import AccountVerdict, verdict_from_json
from distillguard.detector.simulate import simulate

EXE = str(Path(sys.executable).with_name("distillguard"))
LEAD = Principal(name="lead-1", role="lead", token_id=0)
SCALE = "0.05"  # the smallest training scale: both models train on the same small simulated days
DISMISSED_ATTACKERS = 12  # flagged attackers the analysts dismiss (label flipped to legit)
CONFIRMED_LEGIT = 8  # legitimate accounts the analysts confirm as attacks (label flipped to attack)


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    r = subprocess.run([EXE, *args], env=os.environ | env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def _detect(events: Path, model: Path, out: Path, env: dict[str, str]) -> dict[str, AccountVerdict]:
    _run("detect", str(events), "--out", str(out), "--model", str(model), env=env)
    return {v.account_id: v for v in map(verdict_from_json, out.read_bytes().splitlines())}


@pytest.mark.slow
def test_train_with_decisions_scores_decided_accounts_as_the_analysts_decided(tmp_path: Path) -> None:
    """Decisions that contradict the simulator's labels: against a model trained the same way without them, the
    new model scores every dismissed attacker lower and every confirmed legitimate account higher."""
    simulate(tmp_path / "day", seed=9, scale=float(SCALE), scenario="standard", redact=0.0)
    events = tmp_path / "day" / "events.jsonl.gz"
    truth = json.loads((tmp_path / "day" / "labels.json").read_text())
    db = f"sqlite:///{tmp_path / 'review.db'}"
    env = {"DATABASE_URL": db, "LOG_LEVEL": "WARNING"}
    migrate(db)
    train = ["train", "--scale", SCALE, "--data-dir", str(tmp_path / "train")]

    _run(*train, "--out", str(tmp_path / "base.joblib"), env=env)
    base = _detect(events, tmp_path / "base.joblib", tmp_path / "base.jsonl", env)
    dismissed = sorted(a for a, v in base.items() if v.flagged and truth[a]["attack"])[:DISMISSED_ATTACKERS]
    confirmed = sorted(a for a in base if not truth[a]["attack"])[:CONFIRMED_LEGIT]
    assert len(dismissed) == DISMISSED_ATTACKERS and len(confirmed) == CONFIRMED_LEGIT
    with session_scope(db) as s:
        upsert_detections(s, list(base.values()), [])
        cases = []
        for ids, final in ((dismissed, "dismissed"), (confirmed, "confirmed_attack")):
            for acc in ids:
                case = open_case(s, LEAD, "account", acc, "review", None)
                transition(s, LEAD, case, "in_review", None)
                transition(s, LEAD, get_case(s, case.id), final, "reviewed")
                cases.append(case.id)
        recorded = {d.model_version for c in cases for d in decisions(s, get_case(s, c))}
    base_version = json.loads((tmp_path / "base.json").read_text())["version"]
    assert recorded == {base_version}  # each decision names the model whose verdict it judged

    out = tmp_path / "decided.joblib"
    r = _run(*train, "--with-decisions", "--events", str(events), "--out", str(out), env=env)
    assert f"{DISMISSED_ATTACKERS + CONFIRMED_LEGIT} analyst decisions" in r.stderr
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["with_decisions"] is True

    again = _detect(events, out, tmp_path / "decided.jsonl", env)
    assert {v.model_version for v in again.values()} == {card["version"]}
    assert {a: again[a].score < base[a].score for a in dismissed} == dict.fromkeys(dismissed, True)
    assert {a: again[a].score > base[a].score for a in confirmed} == dict.fromkeys(confirmed, True)
