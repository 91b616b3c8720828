"""The simulated days the shipped model is trained, calibrated and evaluated on, and their cache.

One list, read by ``train``, ``evaluate --leave-one-attack-out`` and the benchmarks, so that the three agree. A
day is simulated once into the cache under a directory named by its parameters and by a digest of the
simulator's source: a changed simulator never reuses stale days. Evaluation uses seed 1, which no training or
calibration day uses.
"""

from __future__ import annotations

import hashlib
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from distillguard.detector.evaluate import Label, read_labels
from distillguard.detector.training import Dataset

PACKAGE = Path(__file__).parent
DEFAULT_CACHE = Path(".cache/distillguard/days")


@dataclass(frozen=True)
class Day:
    """One simulated window: the simulator's parameters (``scale`` relative to the recipe's scale)."""

    seed: int
    scenario: str
    redact: float = 0.0
    scale: float = 1.0
    days: float = 1.0
    evasive_requests: float | None = None

    def name(self, scale: float) -> str:
        """Directory name of this day at overall ``scale``."""
        extra = f"-d{self.days:g}" + (f"-e{self.evasive_requests:g}" if self.evasive_requests else "")
        return f"s{self.seed}-{self.scenario}-r{self.redact:g}-x{self.scale * scale:g}{extra}"


# Mixed population sizes, so that cluster-size features generalise; the evasive days hold the adaptive
# campaigns at a low and a middling volume per account.
TRAIN: tuple[Day, ...] = (
    Day(101, "standard"),
    Day(102, "standard", scale=0.5),
    Day(103, "hard"),
    Day(104, "hard", scale=0.5),
    Day(105, "standard", redact=1.0, scale=0.5),
    Day(106, "hard", redact=0.5, scale=0.25),
    Day(107, "standard", scale=0.25),
    Day(108, "evasive", scale=0.5, days=3.0, evasive_requests=15),
    Day(109, "evasive", redact=1.0, scale=0.5, days=3.0, evasive_requests=40),
)
CALIBRATION: tuple[Day, ...] = (
    Day(201, "standard"),
    Day(202, "hard", scale=0.5),
    Day(203, "standard", redact=1.0, scale=0.5),
    Day(204, "evasive", scale=0.5, days=3.0, evasive_requests=25),
)
EVALUATION: tuple[Day, ...] = (
    Day(1, "standard"),
    Day(1, "hard"),
    Day(1, "standard", redact=1.0),
    Day(1, "evasive", days=3.0, evasive_requests=10),
    Day(1, "evasive", days=3.0, evasive_requests=30),
)


def simulator_digest() -> str:
    """A digest of the simulator's source: days simulated by another simulator are not reused."""
    h = hashlib.sha256()
    for path in sorted((PACKAGE / "simulate").glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def code_digest() -> str:
    """A digest of the detection code (the model artifact and the simulator excluded)."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:12]


def materialise(
    day: Day, cache: Path = DEFAULT_CACHE, scale: float = 1.0, say: Callable[[str], None] | None = None
) -> tuple[Dataset, dict[str, Label]]:
    """The day's events and labels, simulated into ``cache`` unless already there.

    Several processes may ask for the same day at once (the test suite's parallel workers, a benchmark beside a
    training run): each simulates into a directory of its own beside the day's and renames it into place, so a
    day's directory, once there, is always whole. The first rename wins; a later one finds the day there and
    drops its own copy (the simulator's output is byte-identical for identical parameters)."""
    from distillguard.detector.simulate import simulate

    d = cache / simulator_digest() / day.name(scale)
    if not (d / "labels.json").exists():
        if say:
            say(f"simulating {d.name} -> {d}")
        staging = d.with_name(f"{d.name}.partial-{uuid.uuid4().hex}")
        try:
            simulate(
                staging,
                seed=day.seed,
                scale=day.scale * scale,
                scenario=day.scenario,
                redact=day.redact,
                days=day.days,
                evasive_requests=day.evasive_requests,
            )
            staging.rename(d)
        except OSError:
            if not (d / "labels.json").exists():  # not another process's whole day that got there first
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    labels = read_labels(d / "labels.json")
    return Dataset(d / "events.jsonl.gz", {a: lab.attack for a, lab in labels.items()}, d.name), labels


def card(scale: float) -> dict:
    """What to record in a model card so that the model can be rebuilt: the days, seeds and source digests."""
    return {
        "recipe": {
            "train": [d.name(scale) for d in TRAIN],
            "calibration": [d.name(scale) for d in CALIBRATION],
            "evaluation": [d.name(1.0) for d in EVALUATION],
        },
        "simulator_digest": simulator_digest(),
        "code_digest": code_digest(),
    }
