"""Leave one attack family out: the family held out is absent from training and calibration, and reported on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from distillguard.detector import recipe
from distillguard.detector.cli import build_app
from distillguard.detector.holdout import UnknownFamilyError, labelled_rows, leave_one_attack_out

SMALL = 0.1
HELD_OUT = "evasive_reasoning"


@pytest.fixture(scope="module")
def days(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list]:
    cache = tmp_path_factory.mktemp("days")

    def make(*which: recipe.Day) -> list:
        return [recipe.materialise(d, cache) for d in which]

    return {
        "train": make(recipe.Day(11, "hard", scale=SMALL), recipe.Day(12, "evasive", scale=SMALL, evasive_requests=20)),
        "calibration": make(recipe.Day(21, "evasive", scale=SMALL, evasive_requests=20)),
        "evaluation": make(recipe.Day(1, "evasive", scale=SMALL, evasive_requests=20)),
    }


def test_the_held_out_family_is_never_trained_on_and_is_scored(days: dict[str, list]) -> None:
    report = leave_one_attack_out(days["train"], days["calibration"], days["evaluation"], families=[HELD_OUT])
    assert list(report["families"]) == [HELD_OUT]
    row = report["families"][HELD_OUT]
    ((_, day),) = row["days"].items()
    labels = days["evaluation"][0][1]
    held = [a for a, lab in labels.items() if lab.kind == HELD_OUT]
    assert day["accounts"] == len(held) > 0
    assert 0.0 <= day["recall"] <= 1.0 and 0.0 <= day["fpr"] <= 1.0
    legit_kinds = {lab.kind for lab in labels.values() if not lab.attack}
    assert set(day["false_positives"]) == legit_kinds
    tr = labelled_rows([d for d, _ in days["train"]], [lab for _, lab in days["train"]], final_only=False)
    dropped = len(tr.attack) - row["training_rows"]
    assert dropped == int((tr.attack & (tr.kind == HELD_OUT)).sum()) > 0
    assert not (tr.without(HELD_OUT).kind == HELD_OUT).any()


def test_an_unknown_family_is_refused_with_the_families_there_are(days: dict[str, list]) -> None:
    with pytest.raises(UnknownFamilyError, match=r"no attack family hydr in these days; families: .*hydra"):
        leave_one_attack_out(days["train"], days["calibration"], days["evaluation"], families=["hydr"])


def test_evaluate_needs_labels_and_verdicts_unless_leaving_one_out() -> None:
    res = CliRunner().invoke(build_app(), ["evaluate"])
    assert res.exit_code == 2 and "needs LABELS and VERDICTS (or --leave-one-attack-out)" in res.output


def test_days_are_cached_per_simulator_version(tmp_path: Path) -> None:
    day = recipe.Day(3, "standard", scale=0.05)
    ds, labels = recipe.materialise(day, tmp_path)
    assert ds.events.parent == tmp_path / recipe.simulator_digest() / day.name(1.0)
    assert ds.labels == {a: lab.attack for a, lab in labels.items()}
    stamp = ds.events.stat().st_mtime_ns
    assert recipe.materialise(day, tmp_path)[0].events.stat().st_mtime_ns == stamp  # not simulated again
    assert json.loads((ds.events.parent / "manifest.json").read_text())["seed"] == 3
    assert np.isclose(json.loads((ds.events.parent / "manifest.json").read_text())["scale"], 0.05)


def test_a_day_simulated_by_two_processes_at_once_is_kept_once_and_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one process simulates a day, another simulates the same day and finishes first (the suite's
    parallel workers do): the first one's copy is dropped, no partial directory is left, the day is whole."""
    from distillguard.detector import simulate as simulation

    day = recipe.Day(4, "standard", scale=0.05)
    real = simulation.simulate
    started: list[Path] = []

    def racing(out: Path, **params: object) -> dict:
        started.append(out)
        if len(started) == 1:  # the other process, while this one has not written anything yet
            recipe.materialise(day, tmp_path)
        return real(out, **params)

    monkeypatch.setattr(simulation, "simulate", racing)
    ds, labels = recipe.materialise(day, tmp_path)
    assert len(started) == 2 and started[0] != started[1]  # each simulated into a directory of its own
    assert [p.name for p in (tmp_path / recipe.simulator_digest()).iterdir()] == [day.name(1.0)]
    assert ds.labels == {a: lab.attack for a, lab in labels.items()} and len(labels) > 0
    assert json.loads((ds.events.parent / "manifest.json").read_text())["seed"] == 4
