"""Settings of the whole test session."""

from __future__ import annotations

import os

# scikit-learn's OpenMP threads (HistGradientBoosting fits) spin while they wait for each other. On the shared
# 2-core test machine, with other processes busy, `distillguard train --scale 0.05` spent 80 s fitting instead
# of 4 s (tests/test_train_decisions.py: 181 s instead of 21 s). One thread per process, for this process and
# every `distillguard` subprocess the tests start; the model is the same (same version hash and threshold).
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Hypothesis profiles (tests/fuzzing.py): derandomized "ci" for `make test` and CI, so a run fails or passes
# the same way every time; "fuzz" (`make fuzz`) draws fresh random inputs, many times more of them.
from tests.fuzzing import load_profile

load_profile()
