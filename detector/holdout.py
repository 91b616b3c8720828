"""Leave-one-attack-out: how the detector does on an attack family it never saw in training.

For each attack family (the ``kind`` of the attack accounts in the labels: hydra, low_and_slow, evasive_reasoning
...), a model is trained and calibrated with that family's accounts removed, then scored on evaluation days: the
held-out family's recall at the calibrated threshold, and the false-positive rate of every legitimate population
on the same days. Features do not depend on the model, so every day's rows are built once and each fit takes the
rows it may see. Scores are those of the end of each day (the detector's final re-scoring).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from distillguard.detector.evaluate import Label, recall_within_fpr
from distillguard.detector.events import read_events
from distillguard.detector.model import DetectionModel, Rows
from distillguard.detector.training import Dataset, rows_for, snapshots, stack


class UnknownFamilyError(ValueError):
    """A family asked for is not the kind of any attack account in the days."""


MAX_FPR = 0.001  # the recall reported beside the calibrated one: best recall with FPR at most this


@dataclass
class LabelledRows:
    """Rows with each row's label: attack or not, and its kind (the attack family or legitimate population)."""

    rows: Rows
    attack: np.ndarray
    kind: np.ndarray

    def without(self, family: str) -> LabelledRows:
        """These rows without the attack accounts of ``family``."""
        keep = ~(self.attack & (self.kind == family))
        return LabelledRows(self.rows.subset(keep), self.attack[keep], self.kind[keep])


def labelled_rows(datasets: list[Dataset], labels: list[dict[str, Label]], final_only: bool) -> LabelledRows:
    """Labelled rows of every snapshot (or only the last one) of each day, in the order rows_for stacks them."""
    if not final_only:
        rows, snaps = rows_for(datasets)
        by_day = {d.name: lab for d, lab in zip(datasets, labels, strict=True)}
        kind = np.concatenate([[by_day[s.dataset][n].kind for n in s.names if n in by_day[s.dataset]] for s in snaps])
        assert rows.y is not None
        return LabelledRows(rows, rows.y.astype(bool), kind)
    parts, kinds, ys = [], [], []
    offset = group_offset = 0
    for ds, lab in zip(datasets, labels, strict=True):
        final = snapshots(read_events(ds.events), hours=(), name=ds.name)[-1]
        known = np.array([n in lab for n in final.names], dtype=bool)
        r = final.rows.subset(known)
        parts.append(Rows(r.X, r.groups + group_offset, r.hoods.shifted(offset), r.context))
        offset += len(r.X)
        group_offset += int(r.groups.max()) + 1 if len(r.groups) else 0
        names = [n for n in final.names if n in lab]
        kinds.append(np.array([lab[n].kind for n in names]))
        ys.append(np.array([lab[n].attack for n in names], dtype=bool))
    rows = Rows(
        X=np.vstack([p.X for p in parts]),
        groups=np.concatenate([p.groups for p in parts]),
        hoods=stack([p.hoods for p in parts]),
        context=np.vstack([p.context for p in parts]),
    )
    attack = np.concatenate(ys)
    rows.y = attack.astype(np.int64)
    return LabelledRows(rows, attack, np.concatenate(kinds))


def _day_report(model: DetectionModel, day: LabelledRows, family: str) -> dict:
    score, _, _ = model.score_samples(day.rows)
    flag = score >= model.threshold
    held = day.attack & (day.kind == family)
    legit = ~day.attack
    out: dict = {"accounts": int(held.sum()), "flagged": int(flag[held].sum())}
    out["recall"] = round(float(flag[held].mean()), 4) if held.any() else None
    out["fpr"] = round(float(flag[legit].mean()), 5) if legit.any() else None
    out["false_positives"] = {str(k): int(flag[legit & (day.kind == k)].sum()) for k in np.unique(day.kind[legit])}
    at_max = recall_within_fpr(score[legit], score[held], MAX_FPR)
    out["recall_at_max_fpr"] = round(at_max, 4) if held.any() else None
    return out


def leave_one_attack_out(
    train: list[tuple[Dataset, dict[str, Label]]],
    calibration: list[tuple[Dataset, dict[str, Label]]],
    evaluation: list[tuple[Dataset, dict[str, Label]]],
    families: Iterable[str] | None = None,
    target_fpr: float = 0.0005,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Per held-out family: the model's recall on it and the legitimate FPR, on each evaluation day."""
    say = progress or (lambda _: None)
    say("features of the training days")
    tr = labelled_rows([d for d, _ in train], [lab for _, lab in train], final_only=False)
    say("features of the calibration and evaluation days")
    cal = labelled_rows([d for d, _ in calibration], [lab for _, lab in calibration], final_only=True)
    days = {d.name: labelled_rows([d], [lab], final_only=True) for d, lab in evaluation}
    present = sorted(set(tr.kind[tr.attack]) | {k for day in days.values() for k in day.kind[day.attack]})
    unknown = sorted(set(families or ()) - set(present))
    if unknown:
        raise UnknownFamilyError(f"no attack family {', '.join(unknown)} in these days; families: {', '.join(present)}")
    report: dict = {"target_fpr": target_fpr, "max_fpr": MAX_FPR, "families": {}}
    for family in families or present:
        say(f"train without {family}")
        fit_rows = tr.without(family)
        model = DetectionModel(target_fpr=target_fpr).fit(fit_rows.rows)
        c = cal.without(family)
        model.calibrate(model.score_samples(c.rows)[0], c.attack.astype(np.int64))
        report["families"][family] = {
            "threshold": round(model.threshold, 4),
            "training_rows": len(fit_rows.attack),
            "days": {name: _day_report(model, day, family) for name, day in days.items()},
        }
    return report
