"""Per-account behaviour features, computed vectorised from :class:`detector.state.AccountState`."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from distillguard.detector.signals import AGENTIC, GRADING, REASONING, REWRITE, TEXT
from distillguard.detector.state import (
    HIGH_MAX,
    HOUR_BITS,
    MODEL_BITS,
    MULTI_TURN,
    REASONING_REQ,
    REFUSAL,
    STOP_MAX,
    STOP_TOOL,
    SYSTEM,
    TOOLS,
    VALUE_BITS,
    VERIFICATION,
    AccountState,
)
from distillguard.detector.units import DAY, HOUR

PIVOT_CAP_HOURS = 48.0
NEW_MODEL_WARMUP_HOURS = 2.0
ENTROPY_ROWS = 4096  # rows of an hour-of-day histogram whose entropy is computed at once (see hour_entropy)

FEATURES: tuple[str, ...] = (
    "log_requests",
    "requests_per_active_hour",
    "log_mean_input",
    "log_mean_output",
    "std_log_output",
    "log_output_input_ratio",
    "share_high_max_tokens",
    "mean_log_max_tokens",
    "share_stop_max_tokens",
    "share_multi_turn",
    "share_reasoning_requested",
    "share_text",
    "share_reasoning_text",
    "share_agentic_text",
    "share_grading_text",
    "share_rewrite_text",
    "share_tools",
    "share_system_prompt",
    "top_template_share",
    "template_diversity",
    "mean_log_gap",
    "std_log_gap",
    "hour_entropy",
    "active_hour_fill",
    "pivot_hours",
    "share_new_model_after_release",
    "log_account_age_days",
    *(f"path_{p}" for p in VERIFICATION),
    "share_429",
    "share_4xx",
    "share_5xx",
    "ips_per_request",
    "log_distinct_subnets",
    "log_distinct_clients",
    "has_payment",
    "has_org",
    "share_stop_tool",
    "mean_temperature",
    "share_refusal",
)
IDX = {name: i for i, name in enumerate(FEATURES)}


@dataclass(frozen=True, eq=False)
class Features:
    """A feature matrix: row ``i`` is account ``account_ids[i]``, column ``j`` is feature ``names[j]``."""

    account_ids: tuple[str, ...]
    names: tuple[str, ...]
    matrix: np.ndarray  # len(account_ids) x len(names)


def _share(num: np.ndarray, den: np.ndarray, empty: float = 0.0) -> np.ndarray:
    out = np.full(len(num), empty, dtype=np.float64)
    ok = den > 0
    out[ok] = num[ok] / den[ok]
    return out


def _distinct(state: AccountState, kind: str) -> np.ndarray:
    a, _, _ = state.links[kind].split(VALUE_BITS)
    return np.bincount(a, minlength=state.size).astype(np.float64)


def hour_entropy(hours: np.ndarray) -> np.ndarray:
    """Per row of ``hours`` (requests by hour of day, one row per account or group): the entropy of its spread over
    the day, from 0 (one hour) to 1 (even). Computed ``ENTROPY_ROWS`` rows at a time, so its temporaries (five
    copies of the rows, as floats) stay small whatever the accounts; each row's value does not depend on the others."""
    out = np.empty(len(hours))
    for start in range(0, len(hours), ENTROPY_ROWS):
        hh = hours[start : start + ENTROPY_ROWS].astype(np.float64)
        p = hh / np.maximum(hh.sum(1, keepdims=True), 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[start : start + ENTROPY_ROWS] = -np.nansum(np.where(p > 0, p * np.log(p), 0.0), axis=1) / np.log(24)
    return out


def new_models(state: AccountState) -> dict[int, float]:
    """Models first seen after the warm-up: model id -> the time it was first used by anyone."""
    start = state.first_seen if math.isfinite(state.first_seen) else 0.0
    first = state.model_first_seen
    return {m: first[m] for m in sorted(first) if first[m] > start + NEW_MODEL_WARMUP_HOURS * HOUR}


def release_hour(state: AccountState) -> int | None:
    """The epoch hour the first newly released model appeared, or None."""
    released = new_models(state)
    return int(min(released.values()) // HOUR) if released else None


def account_features(state: AccountState) -> np.ndarray:
    """The feature matrix, one row per account in ``state.names`` order, columns as :data:`FEATURES`."""
    state.fold()
    n_acc = state.size
    X = np.zeros((n_acc, len(FEATURES)), dtype=np.float64)
    if n_acc == 0:
        return X
    c = state.col
    n = c("n").astype(np.float64)
    nz = np.maximum(n, 1)
    f = state.flag_count
    text = f(TEXT).astype(np.float64)
    X[:, IDX["log_requests"]] = np.log1p(n)
    ta, th, tc = state.timeline.split(HOUR_BITS)
    active_hours = (np.bincount(ta, minlength=n_acc) + state.retired_hours[:n_acc]).astype(np.float64)
    X[:, IDX["requests_per_active_hour"]] = np.log1p(_share(n, active_hours))
    X[:, IDX["log_mean_input"]] = np.log1p(c("in_tok") / nz)
    X[:, IDX["log_mean_output"]] = mean_lo = c("log_out") / nz
    X[:, IDX["std_log_output"]] = np.sqrt(np.maximum(c("log_out_sq") / nz - mean_lo**2, 0))
    X[:, IDX["log_output_input_ratio"]] = np.log1p(c("out_tok") / nz) - np.log1p(c("in_tok") / nz)
    X[:, IDX["share_high_max_tokens"]] = f(HIGH_MAX) / nz
    X[:, IDX["mean_log_max_tokens"]] = _share(c("log_max_tok"), c("max_tok_n").astype(np.float64))
    X[:, IDX["share_stop_max_tokens"]] = f(STOP_MAX) / nz
    X[:, IDX["share_multi_turn"]] = f(MULTI_TURN) / nz
    X[:, IDX["share_reasoning_requested"]] = f(REASONING_REQ) / nz
    X[:, IDX["share_text"]] = text / nz
    X[:, IDX["share_reasoning_text"]] = _share(f(REASONING), text, -1.0)
    X[:, IDX["share_agentic_text"]] = _share(f(AGENTIC), text, -1.0)
    X[:, IDX["share_grading_text"]] = _share(f(GRADING), text, -1.0)
    X[:, IDX["share_rewrite_text"]] = _share(f(REWRITE), text, -1.0)
    X[:, IDX["share_tools"]] = f(TOOLS) / nz
    X[:, IDX["share_system_prompt"]] = f(SYSTEM) / nz
    X[:, IDX["share_stop_tool"]] = f(STOP_TOOL) / nz
    X[:, IDX["share_refusal"]] = f(REFUSAL) / nz

    # Template repetition: the most repeated opening/closing skeleton, and how many distinct ones.
    distinct = state.templates_seen[:n_acc].astype(np.float64)
    X[:, IDX["top_template_share"]] = _share(state.top_template[:n_acc].astype(np.float64), text, -1.0)
    X[:, IDX["template_diversity"]] = _share(distinct, 2 * text, -1.0)

    # Timing: regular gaps (load balancing) and round-the-clock activity.
    gn = c("gap_n").astype(np.float64)
    mg = _share(c("log_gap"), gn, -1.0)
    X[:, IDX["mean_log_gap"]] = mg
    X[:, IDX["std_log_gap"]] = np.where(gn > 1, np.sqrt(np.maximum(_share(c("log_gap_sq"), gn) - mg**2, 0)), -1.0)
    X[:, IDX["hour_entropy"]] = hour_entropy(state.hour_hist())
    span_hours = np.maximum((c("last_ts") - c("first_ts")) / HOUR, 0) + 1
    X[:, IDX["active_hour_fill"]] = np.minimum(active_hours / np.nan_to_num(span_hours, nan=1.0), 1.0)

    # Pivot to a newly seen model.
    pivot = np.full(n_acc, PIVOT_CAP_HOURS)
    share_new = np.zeros(n_acc)
    released = new_models(state)
    if released:
        ma, mm, mfirst = state.model_first.split(MODEL_BITS)
        ca, cm, cc = state.model_count.split(MODEL_BITS)
        new_req = np.zeros(n_acc)
        for m, t0 in released.items():
            sel = mm == m
            np.minimum.at(pivot, ma[sel], np.minimum((mfirst[sel] - t0) / HOUR, PIVOT_CAP_HOURS))
            selc = cm == m
            np.add.at(new_req, ca[selc], cc[selc])
        since = th >= int(min(released.values()) // HOUR)  # the release hour, as in release_hour()
        after = np.bincount(ta[since], weights=tc[since], minlength=n_acc) + state.retired_after_release[:n_acc]
        share_new = _share(new_req, after)
    X[:, IDX["pivot_hours"]] = pivot
    X[:, IDX["share_new_model_after_release"]] = share_new

    created = c("created")
    age = (c("first_ts") - created) / DAY
    X[:, IDX["log_account_age_days"]] = np.where(np.isnan(age), -1.0, np.log1p(np.maximum(age, 0)))
    ver = c("verification")
    for i, path in enumerate(VERIFICATION):
        X[:, IDX[f"path_{path}"]] = ver == i
    X[:, IDX["share_429"]] = c("s429") / nz
    X[:, IDX["share_4xx"]] = c("s4xx") / nz
    X[:, IDX["share_5xx"]] = c("s5xx") / nz
    X[:, IDX["ips_per_request"]] = _distinct(state, "ip") / nz
    X[:, IDX["log_distinct_subnets"]] = np.log1p(_distinct(state, "subnet"))
    X[:, IDX["log_distinct_clients"]] = np.log1p(_distinct(state, "client"))
    X[:, IDX["has_payment"]] = _distinct(state, "card") > 0
    X[:, IDX["has_org"]] = c("org") >= 0
    X[:, IDX["mean_temperature"]] = _share(c("temp"), c("temp_n").astype(np.float64), -1.0)
    return X
