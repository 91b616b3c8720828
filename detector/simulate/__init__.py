"""Traffic simulator: realistic windows of ``api-event/v1`` traffic with ground-truth labels, for tests, the demo
and benchmarks.

``simulate(out_dir, seed=...)`` writes ``events.jsonl.gz`` (strictly time-ordered), ``labels.json``
(account_id -> attack, campaign, kind) and ``manifest.json``; ``generate(seed=...)`` returns a
:class:`Simulation` whose ``events()`` streams the same events as dicts, with ``labels`` and ``manifest``.

Populations (``kind``): legitimate ``individual``, ``developer``, ``app_backend``, ``university_student``,
``enterprise_seat``, ``benchmark``, ``reseller_customer`` and the look-alikes of adaptive harvesting
``power_user``, ``researcher``, ``tutoring_app``, ``agent_platform``; attacks ``hydra``, ``low_and_slow``,
``lone_harvester`` (standard, hard) and the adaptive ``evasive_reasoning``, ``evasive_agentic``,
``evasive_paraphrase``, ``evasive_slowdrip`` (evasive; hard mixes in smaller ones). A new model
(``frontier-5``) ships at start + 9 h. Scale 1.0 is ~4,400 accounts and ~280k events a day; output is
byte-identical for identical parameters.
"""

from distillguard.detector.simulate.simulation import MIN_DAYS, SCENARIOS, Params, Simulation, generate, simulate, write

__all__ = ["MIN_DAYS", "SCENARIOS", "Params", "Simulation", "generate", "simulate", "write"]
