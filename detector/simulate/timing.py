"""When simulated requests happen: diurnal human activity in local time, business hours, steady machine traffic,
bursts, multi-turn conversations, and a campaign's job stream load-balanced across its accounts.

Everything works on compact numpy arrays of seconds since the window start."""

from __future__ import annotations

import itertools

import numpy as np

from distillguard.detector.units import DAY, HOUR

# Relative activity of a person by local hour of day.
HUMAN = np.array(
    [
        0.16,
        0.09,
        0.05,
        0.04,
        0.04,
        0.07,
        0.18,
        0.42,
        0.68,
        0.88,
        1.0,
        1.0,
        0.92,
        0.95,
        1.0,
        0.98,
        0.95,
        0.9,
        0.88,
        0.98,
        1.0,
        0.92,
        0.62,
        0.32,
    ]
)
WORK = np.array(
    [
        0.01,
        0.01,
        0.0,
        0.0,
        0.0,
        0.01,
        0.04,
        0.2,
        0.75,
        1.0,
        1.0,
        0.95,
        0.6,
        0.9,
        1.0,
        1.0,
        0.9,
        0.6,
        0.25,
        0.1,
        0.06,
        0.04,
        0.02,
        0.01,
    ]
)
CLASS = np.array(
    [
        0.02,
        0.01,
        0.0,
        0.0,
        0.0,
        0.0,
        0.02,
        0.1,
        0.6,
        1.0,
        1.0,
        0.8,
        0.5,
        0.9,
        1.0,
        0.9,
        0.6,
        0.4,
        0.35,
        0.5,
        0.7,
        0.6,
        0.35,
        0.1,
    ]
)
APP = 0.55 + 0.45 * HUMAN  # end users behind an app, smeared over its market
# Someone at it after work: a little at lunch, most in the evening, some late at night.
EVENING = np.array(
    [0.35, 0.18, 0.08, 0.04, 0.03, 0.03, 0.08, 0.15, 0.18, 0.15, 0.15, 0.2,
     0.35, 0.3, 0.18, 0.18, 0.22, 0.35, 0.6, 0.85, 1.0, 1.0, 0.9, 0.6]
)  # fmt: skip


def hourly_rate(
    profile: np.ndarray, utc_offset: float, days: float, start_weekday: int, weekend: float = 1.0
) -> np.ndarray:
    """Rate per UTC hour of the window for a profile given in local time (``weekend`` scales Sat/Sun)."""
    n = int(np.ceil(days * 24))
    utc_h = np.arange(n)
    local = utc_h + utc_offset
    local_h = np.floor(local).astype(int)
    rate = profile[local_h % 24].astype(float)
    frac = local - local_h  # half-hour zones: blend neighbours
    if np.any(frac):
        rate = (1 - frac) * rate + frac * profile[(local_h + 1) % 24]
    wd = (start_weekday + np.floor(local / 24).astype(int)) % 7
    rate = np.where(wd >= 5, rate * weekend, rate)
    return rate


def sample_times(rng: np.random.Generator, rate: np.ndarray, n: int, days: float) -> np.ndarray:
    """``n`` times (seconds) drawn from a piecewise-constant hourly rate, clipped to the window."""
    if n <= 0 or rate.sum() <= 0:
        return np.empty(0)
    h = rng.choice(len(rate), size=n, p=rate / rate.sum())
    t = (h + rng.random(n)) * HOUR
    return np.sort(t[t < days * DAY])


def conversations(
    rng: np.random.Generator,
    starts: np.ndarray,
    mean_turns: float,
    gap_s: float,
    max_turns: int = 12,
    turns: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Expand conversation start times into turns: (times, conversation index, turn index). Each conversation
    has a geometric number of turns (mean ``mean_turns``, at most ``max_turns``) unless ``turns`` gives them."""
    k = len(starts)
    if turns is not None:
        turns = turns[:k]
    elif mean_turns <= 1:
        turns = np.ones(k, dtype=np.int64)
    else:
        turns = np.minimum(rng.geometric(1.0 / mean_turns, size=k), max_turns)
    conv = np.repeat(np.arange(k), turns)
    first = np.repeat(np.cumsum(turns) - turns, turns)
    turn = np.arange(len(conv)) - first
    gaps = rng.lognormal(np.log(gap_s), 0.8, size=len(conv)) * (turn > 0)
    # cumulative gap within each conversation
    csum = np.cumsum(gaps)
    base = csum[first]
    t = starts[conv] + (csum - base)
    return t, conv, turn.astype(np.int64)


def sessions(
    rng: np.random.Generator, rate: np.ndarray, n: int, go_on_p: float, gap_s: float, days: float, max_turns: int = 12
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exactly ``n`` requests (fewer only where the window cuts a conversation) in conversations started at
    ``rate`` that go on after each turn with probability ``go_on_p``: (times, conversation index, turn index)."""
    if n <= 0:
        return np.empty(0), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    turns = np.minimum(rng.geometric(1.0 - go_on_p, size=n), max_turns)
    k = int(np.searchsorted(np.cumsum(turns), n)) + 1
    turns = turns[:k]
    turns[-1] -= int(turns.sum()) - n
    starts = sample_times(rng, rate, k, days)
    return conversations(rng, starts, 0.0, gap_s, turns=turns)


def bursts(rng: np.random.Generator, starts: np.ndarray, mean_size: float, gap_s: float) -> np.ndarray:
    """Expand burst start times into request times (a script firing ``~mean_size`` requests ``~gap_s`` apart)."""
    sizes = np.maximum(1, rng.poisson(mean_size, size=len(starts)))
    idx = np.repeat(np.arange(len(starts)), sizes)
    first = np.repeat(np.cumsum(sizes) - sizes, sizes)
    pos = np.arange(len(idx)) - first
    gaps = rng.exponential(gap_s, size=len(idx)) * (pos > 0)
    csum = np.cumsum(gaps)
    return starts[idx] + csum - csum[first]


def job_stream(rng: np.random.Generator, n_jobs: int, days: float) -> np.ndarray:
    """A flat 24h stream of harvesting jobs (Poisson arrivals, mild load wobble)."""
    if n_jobs <= 0:
        return np.empty(0)
    rate = 1.0 + 0.12 * np.sin(np.linspace(0, 2 * np.pi * days, int(np.ceil(days * 24))) + rng.random() * 6.28)
    return sample_times(rng, rate, n_jobs, days)


def round_robin(
    rng: np.random.Generator, times: np.ndarray, active_from: np.ndarray, active_to: np.ndarray, jitter: bool
) -> np.ndarray:
    """Which account serves each job (``times`` sorted): strict rotation over the accounts active at that
    moment (replacements join, burnt accounts leave), or (hard) a weighted random pick among them."""
    n = len(active_from)
    who = np.empty(len(times), dtype=np.int64)
    order = rng.permutation(n)
    w = rng.gamma(2.0, 1.0, size=n)
    bounds = np.unique(np.concatenate([[0.0], active_from, active_to[np.isfinite(active_to)], [np.inf]]))
    counter = 0
    for lo, hi in itertools.pairwise(bounds):
        a, b = np.searchsorted(times, lo), np.searchsorted(times, hi)
        if a == b:
            continue
        act = order[(active_from[order] <= lo) & (active_to[order] > lo)]
        if not len(act):
            act = order
        if jitter:
            who[a:b] = rng.choice(act, size=b - a, p=w[act] / w[act].sum())
        else:
            who[a:b] = act[(counter + np.arange(b - a)) % len(act)]
            counter += b - a
    return who
