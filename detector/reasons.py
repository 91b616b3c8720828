"""Reasons an analyst can read: each names the evidence and its size, never a feature name.

Only evidence that stands out is said: a share of reasoning requests that ordinary accounts rarely
reach, a cluster that shares payment instruments, a pivot to a new model within hours.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from distillguard.detector.cohorts import PROFILE, Dimension
from distillguard.detector.context import STATIC
from distillguard.detector.features import IDX
from distillguard.detector.state import HIGH_MAX_TOKENS
from distillguard.detector.units import HOUR

# An account's own evidence is said when it reaches these (shares are of its requests, or of its prompts
# for text signals) and the account made at least the given number of requests.
MIN_REQUESTS = 3  # for the share-based reasons without a count of their own
REASONING_SHARE = 0.5  # asks for reasoning traces / extended thinking
TEXT_KIND_SHARE = 0.4  # prompts of one of the TEXT_KINDS
TEXT_KINDS = {
    "share_agentic_text": "agentic coding / tool-use transcripts",
    "share_grading_text": "grading against a rubric (the model as a reward model)",
    "share_rewrite_text": "rewrites of other text",
}
SINGLE_TURN_SHARE, LONG_OUTPUT_TOKENS, SINGLE_TURN_MIN_REQUESTS = 0.95, 1500, 5  # single-turn with long outputs
HIGH_MAX_TOKENS_SHARE = 0.6  # asks for max_tokens >= HIGH_MAX_TOKENS
TEMPLATE_SHARE, TEMPLATE_MIN_REQUESTS = 0.6, 5  # repeats one prompt template
REGULAR_GAP_STD, REGULAR_MIN_REQUESTS = 0.5, 8  # std of log gaps below this: machine-regular timing
ROUND_THE_CLOCK_ENTROPY, ROUND_THE_CLOCK_MIN_REQUESTS = 0.93, 24  # hour-of-day entropy: no daily rhythm
PIVOT_HOURS, PIVOT_SHARE = 6.0, 0.5  # moved this share of traffic to a new model within these hours of its release
NEW_ACCOUNT_DAYS = 3.0  # account younger than this at its first request
RATE_LIMITED_SHARE, RATE_LIMITED_MIN_REQUESTS = 0.05, 10  # share of 429 responses
UNUSUAL_ANOMALY = 0.8  # isolation-forest anomaly (0.5 is typical)
FARM_PATHS = ("education", "research", "startup")  # verification programmes farms sign up through
# A cluster's evidence is said when it reaches these.
CREATED_WITHIN_HOURS = 72.0  # the middle 80% of its accounts were created within this span
CREATED_QUANTILES = (0.1, 0.9)
FARM_PATH_SHARE = 0.5  # members verified through a farm programme
CLUSTER_ROUND_THE_CLOCK_SIZE = 5  # members needed to say the cluster runs around the clock
CLUSTER_REASONING_SHARE = 0.5
CLUSTER_SINGLE_TURN_SHARE, CLUSTER_SINGLE_TURN_MIN_REQUESTS = 0.05, 20  # multi-turn share at most this
IP_POOL_PER_MEMBER, IP_POOL_MIN_SIZE = 0.5, 5  # distinct IPs per member: a rotating pool
# A behavioural neighbourhood is said when its accounts score this high on average on their own behaviour; that
# they crowd closer than a typical account's neighbours is said from this density (log of the radius ratio: log 2).
CROWD_BEHAVIOUR, CROWDED_DENSITY = 0.5, float(np.log(2.0))
CROWD_DIMENSIONS = 3  # profile coordinates named: those furthest from the population's median


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _tokens(x: float) -> str:
    return f"{x / 1000:.1f}k" if x >= 1000 else f"{x:.0f}"


def _hours(h: float) -> str:
    return f"{h * 60:.0f} min" if h < 1 else f"{h:.1f} hours" if h < 48 else f"{h / 24:.0f} days"


def account_reasons(x: np.ndarray, n: int, mean_out: float, anomaly: float, model_name: str | None) -> list[str]:
    """What stands out in one account's own behaviour."""
    out: list[str] = []
    text_share = x[IDX["share_text"]]
    reasoning = max(x[IDX["share_reasoning_requested"]], x[IDX["share_reasoning_text"]] if text_share > 0 else 0)
    if reasoning >= REASONING_SHARE and n >= MIN_REQUESTS:
        out.append(f"{_pct(reasoning)} of its {n} requests ask for step-by-step reasoning or extended thinking")
    for key, what in TEXT_KINDS.items():
        if text_share > 0 and x[IDX[key]] >= TEXT_KIND_SHARE and n >= MIN_REQUESTS:
            out.append(f"{_pct(x[IDX[key]])} of its prompts are {what}")
    single = 1 - x[IDX["share_multi_turn"]]
    if n >= SINGLE_TURN_MIN_REQUESTS and single >= SINGLE_TURN_SHARE and mean_out >= LONG_OUTPUT_TOKENS:
        out.append(f"{_pct(single)} single-turn with long outputs (mean {_tokens(mean_out)} tokens)")
    if x[IDX["share_high_max_tokens"]] >= HIGH_MAX_TOKENS_SHARE and n >= MIN_REQUESTS:
        out.append(
            f"asks for max_tokens >= {HIGH_MAX_TOKENS // 1000}k in {_pct(x[IDX['share_high_max_tokens']])} of requests"
        )
    if text_share > 0 and x[IDX["top_template_share"]] >= TEMPLATE_SHARE and n >= TEMPLATE_MIN_REQUESTS:
        out.append(f"repeats one prompt template in {_pct(x[IDX['top_template_share']])} of its prompts")
    if 0 <= x[IDX["std_log_gap"]] < REGULAR_GAP_STD and n >= REGULAR_MIN_REQUESTS:
        out.append(f"machine-regular timing between requests over {n} requests")
    if x[IDX["hour_entropy"]] >= ROUND_THE_CLOCK_ENTROPY and n >= ROUND_THE_CLOCK_MIN_REQUESTS:
        out.append("active around the clock with no daily rhythm")
    if x[IDX["pivot_hours"]] < PIVOT_HOURS and x[IDX["share_new_model_after_release"]] >= PIVOT_SHARE:
        what = f" {model_name}" if model_name else " a newly released model"
        out.append(
            f"moved {_pct(x[IDX['share_new_model_after_release']])} of its traffic to{what} {_hours(x[IDX['pivot_hours']])} after it first appeared"
        )
    if 0 <= x[IDX["log_account_age_days"]] < np.log1p(NEW_ACCOUNT_DAYS):
        path = next((p for p in FARM_PATHS if x[IDX[f"path_{p}"]]), None)
        age = np.expm1(x[IDX["log_account_age_days"]])
        out.append(
            f"account {age:.1f} days old at its first request"
            + (f", verified through the {path} programme" if path else "")
        )
    if x[IDX["share_429"]] >= RATE_LIMITED_SHARE and n >= RATE_LIMITED_MIN_REQUESTS:
        out.append(f"{_pct(x[IDX['share_429']])} of requests rate-limited (429)")
    if anomaly >= UNUSUAL_ANOMALY:
        out.append(f"unusual overall profile (anomaly {anomaly:.2f} vs typical 0.5)")
    return out


def created_span(created: np.ndarray) -> float | None:
    """Hours within which the middle of a cluster's accounts were created, when that is a burst
    (at most :data:`CREATED_WITHIN_HOURS`); None otherwise or when fewer than two creation times are known."""
    created = created[~np.isnan(created)]
    if len(created) < 2:
        return None
    lo, hi = CREATED_QUANTILES
    span = (np.quantile(created, hi) - np.quantile(created, lo)) / HOUR
    return max(float(span), 0.1) if span <= CREATED_WITHIN_HOURS else None


def shared_parts(shared: dict[str, list[str]]) -> list[tuple[str, str]]:
    """What a cluster's members share, in words, each with its evidence group (payment, client, network, template)."""
    out: list[tuple[str, str]] = []
    for group, kind, one, many in (
        ("payment", "payment_fingerprint", "a payment instrument", "{} payment instruments"),
        ("payment", "api_key", "an API key", "{} API keys"),
        (
            "client",
            "client",
            "a client build (TLS fingerprint + user agent)",
            "{} client builds (TLS fingerprint + user agent)",
        ),
    ):
        k = len(shared.get(kind, []))
        if k:
            out.append((group, many.format(k) if k > 1 else one))
    ips, subnets = len(shared.get("ip", [])), len(shared.get("subnet", []))
    if ips:
        out.append(
            (
                "network",
                f"{ips} IP address{'es' if ips > 1 else ''}" + (f" in {subnets} subnets" if subnets > 1 else ""),
            )
        )
    tpls = len(shared.get("template", []))
    if tpls:
        out.append(("template", f"{tpls} prompt template{'s' if tpls > 1 else ''}"))
    return out


def cluster_reasons(
    size: int,
    shared: dict[str, list[str]],
    created: np.ndarray,
    paths: dict[str, int],
    ctx: np.ndarray,
    n_requests: int,
) -> list[str]:
    """What links a cluster and what it does together."""
    out: list[str] = []
    parts = [text for _, text in shared_parts(shared)]
    span = created_span(created)
    when = f" created within {_hours(span)}" if span is not None else ""
    if parts:
        out.append(
            f"{size} accounts{when} share " + ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
        )
    return out + cluster_behaviour_reasons(size, shared, paths, ctx, n_requests)


def cluster_behaviour_reasons(
    size: int, shared: dict[str, list[str]], paths: dict[str, int], ctx: np.ndarray, n_requests: int
) -> list[str]:
    """What a cluster does together: verification programmes, hours, reasoning, follow-ups, IP rotation."""
    out: list[str] = []
    farm = {p: c for p, c in paths.items() if p in FARM_PATHS and c}
    if farm and sum(farm.values()) >= FARM_PATH_SHARE * size:
        out.append(
            f"{sum(farm.values())} of {size} verified through "
            + " / ".join(f"{p} ({c})" for p, c in sorted(farm.items(), key=lambda t: -t[1]))
            + " programmes"
        )
    c = {name: ctx[i] for i, name in enumerate(STATIC)}
    per_member = n_requests / max(size, 1)
    if c["c_hour_entropy"] >= ROUND_THE_CLOCK_ENTROPY and size >= CLUSTER_ROUND_THE_CLOCK_SIZE:
        out.append(
            f"together they run around the clock ({n_requests} requests, only {per_member:.0f} per account: load spread thin)"
        )
    if c["c_reasoning_share"] >= CLUSTER_REASONING_SHARE:
        out.append(f"{_pct(c['c_reasoning_share'])} of the cluster's requests ask for reasoning traces")
    if c["c_multi_turn_share"] <= CLUSTER_SINGLE_TURN_SHARE and n_requests >= CLUSTER_SINGLE_TURN_MIN_REQUESTS:
        out.append("single-turn harvesting: almost no follow-up messages")
    ips_per_member = float(np.expm1(c["c_log_ips_per_member"]))
    if ips_per_member >= IP_POOL_PER_MEMBER and size >= IP_POOL_MIN_SIZE:
        pooled = len(shared.get("ip", []))
        out.append(
            f"requests rotate across a pool of {ips_per_member * size:.0f} IP addresses ({ips_per_member:.1f} per account)"
            + (f", {pooled} of them used by several members" if pooled else "")
        )
    return out


def _profile_value(d: Dimension, v: float) -> str:
    if d.unit == "share":
        return _pct(v)
    if d.unit == "tokens":
        return f"{_tokens(float(np.round(np.expm1(v))))} tokens"  # whole tokens: log1p and back lose the last bit
    return f"{v:.2f}"


def crowd_dimensions(crowd: np.ndarray, typical: np.ndarray) -> np.ndarray:
    """Indices of the :data:`CROWD_DIMENSIONS` PROFILE coordinates where ``crowd`` is furthest from ``typical``."""
    far = np.argsort(-np.abs(crowd - typical) / np.array([d.resolution for d in PROFILE]), kind="stable")
    return far[:CROWD_DIMENSIONS]


def alike(profiles: np.ndarray, crowd: np.ndarray, typical: np.ndarray) -> int:
    """How many of ``profiles`` (rows of PROFILE values) are at least halfway from ``typical`` to ``crowd`` on
    every one of the crowd's named dimensions: the count an analyst can re-run as a query."""
    dims = crowd_dimensions(crowd, typical)
    halfway = (crowd[dims] + typical[dims]) / 2
    toward = np.sign(crowd[dims] - typical[dims])
    return int(np.all((profiles[:, dims] - halfway) * toward >= 0, axis=1).sum())


def crowd_reason(
    density: float,
    behaviour: float,
    linked: int,
    crowd: np.ndarray,
    typical: np.ndarray,
    size: int,
    rarity: tuple[int, int],
) -> str | None:
    """What an account's behavioural neighbourhood says, when it is harvest-like: ``crowd`` and ``typical`` are
    the PROFILE medians of the neighbourhood and of the population; ``linked``: neighbours in the account's own
    cluster; ``rarity``: (accounts :func:`alike` the crowd, accounts with a profile)."""
    if behaviour < CROWD_BEHAVIOUR:
        return None
    dims = crowd_dimensions(crowd, typical)
    said = ", ".join(
        f"{PROFILE[j].label} {_profile_value(PROFILE[j], crowd[j])} (typical {_profile_value(PROFILE[j], typical[j])})"
        for j in dims
    )
    infra = "none of them sharing" if linked == 0 else f"{linked} sharing"
    crowded = f" crowd {np.exp(density):.1f}x closer than typical and" if density >= CROWDED_DENSITY else ""
    count, total = rarity
    return (
        f"its {size} nearest accounts by behaviour ({infra} its payment, network or client){crowded} score "
        f"{behaviour:.2f} on their own behaviour: {said}; {count:,} of {total:,} accounts are at least halfway "
        f"from typical to this on all {len(dims)}"
    )


def iso(ts: float | None) -> datetime | None:
    """Epoch seconds to an aware datetime."""
    return None if ts is None or not np.isfinite(ts) else datetime.fromtimestamp(ts, tz=UTC)
