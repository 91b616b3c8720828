"""Hypothesis profiles and example budgets shared by the property tests.

- ``ci`` (the default, and what `make test` and CI use): derandomized, no example database, so every run
  draws the same inputs; a failure found once stays found. Examples that once failed are kept as explicit
  ``@example`` cases beside their property.
- ``dev``: random inputs and the local example database (``HYPOTHESIS_PROFILE=dev``).
- ``fuzz`` (`make fuzz`): random inputs, ``FUZZ_MULTIPLIER`` times each test's example budget.
"""

from __future__ import annotations

import os

from hypothesis import settings

FUZZ_MULTIPLIER = 20
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")

# No deadline under ci: `make test` runs the suite in parallel workers on a 2-core machine shared with other jobs,
# where a cheap example can wait past Hypothesis's 200 ms default for a core; what a property asserts is unchanged.
settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.register_profile("fuzz", derandomize=False, print_blob=True)


def load_profile() -> None:
    """Load the profile named by ``HYPOTHESIS_PROFILE`` (default ``ci``)."""
    settings.load_profile(PROFILE)


def budget(n: int) -> int:
    """A property's example budget: ``n``, or ``FUZZ_MULTIPLIER * n`` under the fuzz profile."""
    return n * FUZZ_MULTIPLIER if PROFILE == "fuzz" else n
