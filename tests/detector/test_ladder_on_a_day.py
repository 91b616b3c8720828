"""The response ladder on a simulated day (seed 1, never trained on): what the shipped policy does with it."""

from __future__ import annotations

from distillguard.detector.detector import Detector
from distillguard.detector.ladder import LINKING
from distillguard.detector.policy import load_policy
from distillguard.detector.records import Action, rank
from tests.detector.conftest import SIMULATED_DAYS

pytestmark = SIMULATED_DAYS

ABOVE_WATCH = rank(Action.watch) + 1


def _kinds(basis: list[str]) -> set[str]:
    """The evidence kinds named by a basis (every line after the rule starts with its kind)."""
    return {line.split(":", 1)[0] for line in basis[1:]}


def test_every_action_above_watch_names_evidence_and_light_unlinked_accounts_stay_at_watch(standard_day: dict) -> None:
    few = load_policy().few_requests
    acted = [v for v in standard_day["verdicts"] if rank(v.action) >= ABOVE_WATCH]
    assert acted, "the day's attackers should be acted on"
    for v in acted:
        assert v.action_basis[0].startswith(f"probability of attack {v.probability:.2f}")
        assert _kinds(v.action_basis), f"{v.account_id} is at {v.action} on the probability alone"
        if v.n_requests < few:
            assert _kinds(v.action_basis) & set(LINKING), f"{v.account_id}: {v.n_requests} requests, nothing linking"
    for c in standard_day["clusters"]:
        assert c.action != Action.takedown or len(c.members) >= 10


def test_no_legitimate_account_is_suspended_and_the_attackers_are_reviewed(standard_day: dict) -> None:
    labels = standard_day["labels"]
    at = {v.account_id: rank(v.action) for v in standard_day["verdicts"]}
    legit = [a for a, lab in labels.items() if not lab.attack and a in at]
    attack = [a for a, lab in labels.items() if lab.attack and a in at]
    assert max(at[a] for a in legit) < rank(Action.suspend)
    assert sum(at[a] >= rank(Action.review) for a in attack) >= 0.9 * len(attack)


def test_the_rung_times_climb_and_survive_a_restart(standard_day: dict) -> None:
    det: Detector = standard_day["detector"]
    for v in det.verdicts():
        times = [v.reached_at[r] for r in v.reached_at]
        assert times == sorted(times), f"{v.account_id} reached a higher rung before a lower one"
        assert (v.action == Action.none) or str(v.action) in v.reached_at
    restored = Detector.restore(det.snapshot())
    restored.flush()
    before = {v.account_id: v.reached_at for v in det.verdicts()}
    assert {v.account_id: v.reached_at for v in restored.verdicts()} == before
