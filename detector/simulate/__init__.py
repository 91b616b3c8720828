"""Traffic simulator: realistic days of ``api-event/v1`` traffic with ground-truth labels, for tests, the demo
and benchmarks. ``simulate(out_dir, seed=...)`` writes the files; ``generate(seed=...)`` streams events."""

from detector.simulate.simulation import SCENARIOS, Simulation, generate, simulate, write

__all__ = ["SCENARIOS", "Simulation", "generate", "simulate", "write"]
