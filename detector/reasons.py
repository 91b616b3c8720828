"""Reasons an analyst can read: each names the evidence and its size, never a feature name.

Only evidence that stands out is said: a share of reasoning requests that ordinary accounts rarely
reach, a cluster that shares payment instruments, a pivot to a new model within hours.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from distillguard.detector.context import STATIC
from distillguard.detector.features import IDX, PIVOT_CAP_HOURS
from distillguard.detector.units import HOUR


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
    if reasoning >= 0.5 and n >= 3:
        out.append(f"{_pct(reasoning)} of its {n} requests ask for step-by-step reasoning or extended thinking")
    for key, what in (("share_agentic_text", "agentic coding / tool-use transcripts"), ("share_grading_text", "grading against a rubric (the model as a reward model)"), ("share_rewrite_text", "rewrites of other text")):
        if text_share > 0 and x[IDX[key]] >= 0.4 and n >= 3:
            out.append(f"{_pct(x[IDX[key]])} of its prompts are {what}")
    single = 1 - x[IDX["share_multi_turn"]]
    if n >= 5 and single >= 0.95 and mean_out >= 1500:
        out.append(f"{_pct(single)} single-turn with long outputs (mean {_tokens(mean_out)} tokens)")
    if x[IDX["share_high_max_tokens"]] >= 0.6 and n >= 3:
        out.append(f"asks for max_tokens >= 8k in {_pct(x[IDX['share_high_max_tokens']])} of requests")
    if text_share > 0 and x[IDX["top_template_share"]] >= 0.6 and n >= 5:
        out.append(f"repeats one prompt template in {_pct(x[IDX['top_template_share']])} of its prompts")
    if x[IDX["std_log_gap"]] >= 0 and x[IDX["std_log_gap"]] < 0.5 and n >= 8:
        out.append(f"machine-regular timing between requests over {n} requests")
    if x[IDX["hour_entropy"]] >= 0.93 and n >= 24:
        out.append("active around the clock with no daily rhythm")
    if x[IDX["pivot_hours"]] < 6 and x[IDX["share_new_model_after_release"]] >= 0.5:
        what = f" {model_name}" if model_name else " a newly released model"
        out.append(
            f"moved {_pct(x[IDX['share_new_model_after_release']])} of its traffic to{what} {_hours(x[IDX['pivot_hours']])} after it first appeared"
        )
    if 0 <= x[IDX["log_account_age_days"]] < np.log1p(3):
        path = next((p for p in ("education", "research", "startup") if x[IDX[f"path_{p}"]]), None)
        age = np.expm1(x[IDX["log_account_age_days"]])
        out.append(f"account {age:.1f} days old at its first request" + (f", verified through the {path} programme" if path else ""))
    if x[IDX["share_429"]] >= 0.05 and n >= 10:
        out.append(f"{_pct(x[IDX['share_429']])} of requests rate-limited (429)")
    if anomaly >= 0.8:
        out.append(f"unusual overall profile (anomaly {anomaly:.2f} vs typical 0.5)")
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
    parts = []
    for kind, noun in (("payment_fingerprint", "payment instrument"), ("api_key", "API key"), ("client", "TLS fingerprint + user agent")):
        k = len(shared.get(kind, []))
        if k:
            parts.append(f"{k} {noun}{'s' if k > 1 else ''}" if k > 1 else f"a {noun}" if noun[0] not in "aeiouAPI" else f"an {noun}")
    ips, subnets = len(shared.get("ip", [])), len(shared.get("subnet", []))
    if ips:
        parts.append(f"{ips} IP address{'es' if ips > 1 else ''}" + (f" in {subnets} subnets" if subnets > 1 else ""))
    tpls = len(shared.get("template", []))
    if tpls:
        parts.append(f"{tpls} prompt template{'s' if tpls > 1 else ''}")
    created = created[~np.isnan(created)]
    when = ""
    if len(created) >= 2:
        span = (np.quantile(created, 0.9) - np.quantile(created, 0.1)) / HOUR
        if span <= 72:
            when = f" created within {_hours(max(span, 0.1))}"
    if parts:
        out.append(f"{size} accounts{when} share " + ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1])
    farm = {p: c for p, c in paths.items() if p in ("education", "research", "startup") and c}
    if farm and sum(farm.values()) >= 0.5 * size:
        out.append(
            f"{sum(farm.values())} of {size} verified through " + " / ".join(f"{p} ({c})" for p, c in sorted(farm.items(), key=lambda t: -t[1]))
            + " programmes"
        )
    c = {name: ctx[i] for i, name in enumerate(STATIC)}
    per_member = n_requests / max(size, 1)
    if c["c_hour_entropy"] >= 0.93 and size >= 5:
        out.append(f"together they run around the clock ({n_requests} requests, only {per_member:.0f} per account: load spread thin)")
    if c["c_reasoning_share"] >= 0.5:
        out.append(f"{_pct(c['c_reasoning_share'])} of the cluster's requests ask for reasoning traces")
    if c["c_multi_turn_share"] <= 0.05 and n_requests >= 20:
        out.append("single-turn harvesting: almost no follow-up messages")
    if np.expm1(c["c_log_ips_per_member"]) >= 0.5 and size >= 5:
        out.append(f"requests rotate across a pool of {len(shared.get('ip', []))}+ shared IPs")
    return out


def iso(ts: float | None) -> datetime | None:
    """Epoch seconds to an aware datetime."""
    return None if ts is None or not np.isfinite(ts) else datetime.fromtimestamp(ts, tz=UTC)
