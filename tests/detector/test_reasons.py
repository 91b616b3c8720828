"""The reasons an analyst reads (detector/reasons.py): given an account's features or a cluster's context, these
sentences, said from exactly the thresholds the module names and never below them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from distillguard.detector.cohorts import PROFILE
from distillguard.detector.context import STATIC
from distillguard.detector.features import FEATURES, IDX
from distillguard.detector.reasons import (
    CLUSTER_REASONING_SHARE,
    CLUSTER_ROUND_THE_CLOCK_SIZE,
    CLUSTER_SINGLE_TURN_MIN_REQUESTS,
    CLUSTER_SINGLE_TURN_SHARE,
    CREATED_WITHIN_HOURS,
    CROWD_BEHAVIOUR,
    CROWDED_DENSITY,
    FARM_PATH_SHARE,
    HIGH_MAX_TOKENS_SHARE,
    IP_POOL_MIN_SIZE,
    IP_POOL_PER_MEMBER,
    LONG_OUTPUT_TOKENS,
    MIN_REQUESTS,
    NEW_ACCOUNT_DAYS,
    PIVOT_HOURS,
    PIVOT_SHARE,
    RATE_LIMITED_MIN_REQUESTS,
    RATE_LIMITED_SHARE,
    REASONING_SHARE,
    REGULAR_GAP_STD,
    REGULAR_MIN_REQUESTS,
    ROUND_THE_CLOCK_ENTROPY,
    ROUND_THE_CLOCK_MIN_REQUESTS,
    SINGLE_TURN_MIN_REQUESTS,
    SINGLE_TURN_SHARE,
    TEMPLATE_MIN_REQUESTS,
    TEMPLATE_SHARE,
    TEXT_KIND_SHARE,
    UNUSUAL_ANOMALY,
    account_reasons,
    alike,
    cluster_behaviour_reasons,
    cluster_reasons,
    created_span,
    crowd_dimensions,
    crowd_reason,
    iso,
    shared_parts,
)
from distillguard.detector.units import HOUR

PIVOT_NEVER = 1e6  # hours: an account that never moved to a new model


def features(**values: float) -> np.ndarray:
    """An account that says nothing: multi-turn, irregular, old, never pivoted; ``values`` override by name."""
    x = np.zeros(len(FEATURES))
    quiet = {"share_multi_turn": 1.0, "std_log_gap": -1.0, "log_account_age_days": -1.0, "pivot_hours": PIVOT_NEVER}
    for name, v in (quiet | values).items():
        x[IDX[name]] = v
    return x


def said(n: int = 100, mean_out: float = 300.0, anomaly: float = 0.5, model: str | None = None, **values) -> list[str]:
    return account_reasons(features(**values), n, mean_out, anomaly, model)


def test_a_quiet_account_has_no_reasons() -> None:
    assert said() == []


# --- an account's own evidence, each at its threshold ---------------------------------------------------------------


def test_reasoning_requests_are_said_from_their_share_and_minimum_requests() -> None:
    assert said(n=MIN_REQUESTS, share_reasoning_requested=REASONING_SHARE) == [
        "50% of its 3 requests ask for step-by-step reasoning or extended thinking"
    ]
    assert said(n=MIN_REQUESTS, share_reasoning_requested=REASONING_SHARE - 0.01) == []
    assert said(n=MIN_REQUESTS - 1, share_reasoning_requested=1.0) == []


def test_reasoning_in_the_prompt_text_counts_only_when_the_prompts_are_seen() -> None:
    assert said(n=10, share_reasoning_text=0.8) == []  # prompts redacted: no text signal at all
    assert said(n=10, share_text=0.5, share_reasoning_text=0.8, share_reasoning_requested=0.6) == [
        "80% of its 10 requests ask for step-by-step reasoning or extended thinking"
    ]


@pytest.mark.parametrize(
    ("feature", "what"),
    [
        ("share_agentic_text", "agentic coding / tool-use transcripts"),
        ("share_grading_text", "grading against a rubric (the model as a reward model)"),
        ("share_rewrite_text", "rewrites of other text"),
    ],
)
def test_a_kind_of_prompt_is_said_from_its_share_of_seen_prompts(feature: str, what: str) -> None:
    assert said(n=MIN_REQUESTS, share_text=1.0, **{feature: TEXT_KIND_SHARE}) == [f"40% of its prompts are {what}"]
    assert said(n=MIN_REQUESTS, share_text=1.0, **{feature: TEXT_KIND_SHARE - 0.01}) == []
    assert said(n=MIN_REQUESTS - 1, share_text=1.0, **{feature: 1.0}) == []
    assert said(n=MIN_REQUESTS, share_text=0.0, **{feature: 1.0}) == []


def test_single_turn_long_outputs_need_all_three_conditions() -> None:
    single = {"share_multi_turn": 1 - SINGLE_TURN_SHARE}
    assert said(n=SINGLE_TURN_MIN_REQUESTS, mean_out=LONG_OUTPUT_TOKENS, **single) == [
        "95% single-turn with long outputs (mean 1.5k tokens)"
    ]
    assert said(n=SINGLE_TURN_MIN_REQUESTS - 1, mean_out=LONG_OUTPUT_TOKENS, **single) == []
    assert said(n=SINGLE_TURN_MIN_REQUESTS, mean_out=LONG_OUTPUT_TOKENS - 1, **single) == []
    assert said(n=SINGLE_TURN_MIN_REQUESTS, mean_out=LONG_OUTPUT_TOKENS, share_multi_turn=0.06) == []


def test_high_max_tokens() -> None:
    assert said(n=MIN_REQUESTS, share_high_max_tokens=HIGH_MAX_TOKENS_SHARE) == [
        "asks for max_tokens >= 8k in 60% of requests"
    ]
    assert said(n=MIN_REQUESTS, share_high_max_tokens=HIGH_MAX_TOKENS_SHARE - 0.01) == []
    assert said(n=MIN_REQUESTS - 1, share_high_max_tokens=1.0) == []


def test_one_repeated_template() -> None:
    seen = {"share_text": 1.0}
    assert said(n=TEMPLATE_MIN_REQUESTS, top_template_share=TEMPLATE_SHARE, **seen) == [
        "repeats one prompt template in 60% of its prompts"
    ]
    assert said(n=TEMPLATE_MIN_REQUESTS, top_template_share=TEMPLATE_SHARE - 0.01, **seen) == []
    assert said(n=TEMPLATE_MIN_REQUESTS - 1, top_template_share=1.0, **seen) == []
    assert said(n=TEMPLATE_MIN_REQUESTS, top_template_share=1.0) == []  # prompts not seen


def test_machine_regular_timing() -> None:
    assert said(n=REGULAR_MIN_REQUESTS, std_log_gap=0.0) == ["machine-regular timing between requests over 8 requests"]
    assert said(n=REGULAR_MIN_REQUESTS, std_log_gap=REGULAR_GAP_STD - 0.01) != []
    assert said(n=REGULAR_MIN_REQUESTS, std_log_gap=REGULAR_GAP_STD) == []
    assert said(n=REGULAR_MIN_REQUESTS - 1, std_log_gap=0.0) == []
    assert said(n=REGULAR_MIN_REQUESTS, std_log_gap=-0.01) == []  # too few gaps to measure


def test_round_the_clock() -> None:
    assert said(n=ROUND_THE_CLOCK_MIN_REQUESTS, hour_entropy=ROUND_THE_CLOCK_ENTROPY) == [
        "active around the clock with no daily rhythm"
    ]
    assert said(n=ROUND_THE_CLOCK_MIN_REQUESTS, hour_entropy=ROUND_THE_CLOCK_ENTROPY - 0.01) == []
    assert said(n=ROUND_THE_CLOCK_MIN_REQUESTS - 1, hour_entropy=1.0) == []


def test_a_pivot_to_a_new_model_names_the_model_and_how_soon() -> None:
    moved = {"share_new_model_after_release": PIVOT_SHARE}
    assert said(pivot_hours=PIVOT_HOURS - 0.5, model="frontier-5", **moved) == [
        "moved 50% of its traffic to frontier-5 5.5 hours after it first appeared"
    ]
    assert said(pivot_hours=0.5, **moved) == [
        "moved 50% of its traffic to a newly released model 30 min after it first appeared"
    ]
    assert said(pivot_hours=PIVOT_HOURS, **moved) == []
    assert said(pivot_hours=1.0, share_new_model_after_release=PIVOT_SHARE - 0.01) == []


def test_a_new_account_names_its_age_and_farm_programme() -> None:
    young = math.log1p(NEW_ACCOUNT_DAYS) - 1e-6
    assert said(log_account_age_days=young) == ["account 3.0 days old at its first request"]
    assert said(log_account_age_days=math.log1p(0.5), path_research=1.0) == [
        "account 0.5 days old at its first request, verified through the research programme"
    ]
    assert said(log_account_age_days=0.0, path_enterprise=1.0) == ["account 0.0 days old at its first request"]
    assert said(log_account_age_days=math.log1p(NEW_ACCOUNT_DAYS)) == []


def test_rate_limited() -> None:
    assert said(n=RATE_LIMITED_MIN_REQUESTS, share_429=RATE_LIMITED_SHARE) == ["5% of requests rate-limited (429)"]
    assert said(n=RATE_LIMITED_MIN_REQUESTS, share_429=RATE_LIMITED_SHARE - 0.001) == []
    assert said(n=RATE_LIMITED_MIN_REQUESTS - 1, share_429=1.0) == []


def test_an_unusual_profile_is_said_with_its_anomaly() -> None:
    assert said(anomaly=UNUSUAL_ANOMALY) == ["unusual overall profile (anomaly 0.80 vs typical 0.5)"]
    assert said(anomaly=UNUSUAL_ANOMALY - 0.01) == []


def test_reasons_come_in_a_fixed_order() -> None:
    out = said(n=50, share_reasoning_requested=1.0, share_429=0.5, anomaly=0.9, std_log_gap=0.1)
    assert [r.split()[0] for r in out] == ["100%", "machine-regular", "50%", "unusual"]


# --- a cluster ------------------------------------------------------------------------------------------------------


def test_created_span_is_the_middle_80_percent_when_that_is_a_burst() -> None:
    t0 = 1.8e9
    ten = t0 + HOUR * np.arange(11.0)  # quantiles 0.1 and 0.9 of 0..10 hours: 1 and 9
    assert created_span(ten) == pytest.approx(8.0)
    assert created_span(np.r_[ten, np.nan, np.nan]) == pytest.approx(8.0)
    assert created_span(np.array([t0, t0])) == pytest.approx(0.1)  # at least 6 minutes, never zero
    wide = t0 + HOUR * np.linspace(0, CREATED_WITHIN_HOURS / 0.8, 11)
    assert created_span(wide) == pytest.approx(CREATED_WITHIN_HOURS)
    assert created_span(t0 + HOUR * np.linspace(0, CREATED_WITHIN_HOURS / 0.8 + 1, 11)) is None
    assert created_span(np.array([t0, np.nan])) is None


def test_shared_parts_count_each_kind_in_words() -> None:
    assert shared_parts({}) == []
    assert shared_parts(
        {"payment_fingerprint": ["p"], "api_key": ["k"], "client": ["c"], "ip": ["1"], "template": ["t"]}
    ) == [
        ("payment", "a payment instrument"),
        ("payment", "an API key"),
        ("client", "a client build (TLS fingerprint + user agent)"),
        ("network", "1 IP address"),
        ("template", "1 prompt template"),
    ]
    two = ["x", "y"]
    assert shared_parts({"payment_fingerprint": two, "api_key": two, "client": two, "ip": two, "template": two}) == [
        ("payment", "2 payment instruments"),
        ("payment", "2 API keys"),
        ("client", "2 client builds (TLS fingerprint + user agent)"),
        ("network", "2 IP addresses"),
        ("template", "2 prompt templates"),
    ]


def test_shared_addresses_name_their_subnets_only_when_there_are_several() -> None:
    assert shared_parts({"ip": ["a", "b", "c"], "subnet": ["s"]}) == [("network", "3 IP addresses")]
    assert shared_parts({"ip": ["a", "b", "c"], "subnet": ["s", "t"]}) == [("network", "3 IP addresses in 2 subnets")]
    assert shared_parts({"subnet": ["s", "t"]}) == []


def context(**values: float) -> np.ndarray:
    """A cluster's context that says nothing (multi-turn, daytime, one IP each); ``values`` override by name."""
    ctx = np.zeros(len(STATIC))
    for name, v in ({"c_multi_turn_share": 1.0} | values).items():
        ctx[STATIC.index(name)] = v
    return ctx


def test_a_cluster_says_what_its_members_share_and_when_they_were_created() -> None:
    created = 1.8e9 + HOUR * np.arange(11.0)
    shared = {"payment_fingerprint": ["p1", "p2"], "client": ["c"], "ip": ["1", "2", "3"]}
    assert cluster_reasons(11, shared, created, {}, context(), 50) == [
        "11 accounts created within 8.0 hours share 2 payment instruments, "
        "a client build (TLS fingerprint + user agent) and 3 IP addresses"
    ]
    assert cluster_reasons(2, {"api_key": ["k"]}, np.array([np.nan, np.nan]), {}, context(), 5) == [
        "2 accounts share an API key"
    ]
    assert cluster_reasons(2, {}, created, {}, context(), 5) == []


def test_farm_programmes_are_said_when_they_verified_half_the_members() -> None:
    half = int(FARM_PATH_SHARE * 10)
    paths = {"education": half - 1, "startup": 1, "standard": 10 - half}
    assert cluster_behaviour_reasons(10, {}, paths, context(), 40) == [
        "5 of 10 verified through education (4) / startup (1) programmes"
    ]
    assert cluster_behaviour_reasons(10, {}, paths | {"startup": 0}, context(), 40) == []


def test_a_cluster_around_the_clock_needs_enough_members() -> None:
    size = CLUSTER_ROUND_THE_CLOCK_SIZE
    assert cluster_behaviour_reasons(size, {}, {}, context(c_hour_entropy=ROUND_THE_CLOCK_ENTROPY), 100) == [
        "together they run around the clock (100 requests, only 20 per account: load spread thin)"
    ]
    assert cluster_behaviour_reasons(size - 1, {}, {}, context(c_hour_entropy=1.0), 100) == []
    assert cluster_behaviour_reasons(size, {}, {}, context(c_hour_entropy=ROUND_THE_CLOCK_ENTROPY - 0.01), 100) == []


def test_a_cluster_asking_for_reasoning() -> None:
    assert cluster_behaviour_reasons(3, {}, {}, context(c_reasoning_share=CLUSTER_REASONING_SHARE), 10) == [
        "50% of the cluster's requests ask for reasoning traces"
    ]
    assert cluster_behaviour_reasons(3, {}, {}, context(c_reasoning_share=CLUSTER_REASONING_SHARE - 0.01), 10) == []


def test_a_single_turn_cluster_needs_enough_requests() -> None:
    single = context(c_multi_turn_share=CLUSTER_SINGLE_TURN_SHARE)
    assert cluster_behaviour_reasons(3, {}, {}, single, CLUSTER_SINGLE_TURN_MIN_REQUESTS) == [
        "single-turn harvesting: almost no follow-up messages"
    ]
    assert cluster_behaviour_reasons(3, {}, {}, single, CLUSTER_SINGLE_TURN_MIN_REQUESTS - 1) == []
    assert cluster_behaviour_reasons(3, {}, {}, context(c_multi_turn_share=0.06), 100) == []


def test_an_ip_pool_counts_the_addresses_it_rotates_through() -> None:
    pool = context(c_log_ips_per_member=math.log1p(2.0))
    assert cluster_behaviour_reasons(IP_POOL_MIN_SIZE, {"ip": ["a", "b", "c"]}, {}, pool, 10) == [
        "requests rotate across a pool of 10 IP addresses (2.0 per account), 3 of them used by several members"
    ]
    assert cluster_behaviour_reasons(IP_POOL_MIN_SIZE, {}, {}, pool, 10) == [
        "requests rotate across a pool of 10 IP addresses (2.0 per account)"
    ]
    at = context(c_log_ips_per_member=math.log1p(IP_POOL_PER_MEMBER))
    assert cluster_behaviour_reasons(IP_POOL_MIN_SIZE * 2, {}, {}, at, 10) == [
        "requests rotate across a pool of 5 IP addresses (0.5 per account)"
    ]
    below = context(c_log_ips_per_member=math.log1p(IP_POOL_PER_MEMBER - 0.01))
    assert cluster_behaviour_reasons(IP_POOL_MIN_SIZE, {}, {}, below, 10) == []
    assert cluster_behaviour_reasons(IP_POOL_MIN_SIZE - 1, {}, {}, pool, 10) == []


# --- a behavioural neighbourhood --------------------------------------------------------------------------------------


def profile(**values: float) -> np.ndarray:
    out = np.zeros(len(PROFILE))
    for name, v in values.items():
        out[[d.feature for d in PROFILE].index(name)] = v
    return out


TYPICAL = profile(share_reasoning_requested=0.05, log_mean_output=math.log1p(300), share_multi_turn=0.6)
CROWD = profile(share_reasoning_requested=0.95, log_mean_output=math.log1p(3000), share_multi_turn=0.0)


def test_the_crowd_is_described_on_its_furthest_dimensions_in_resolution_units() -> None:
    # reasoning: 0.9 / 0.15 = 6 units; output: log(3001/301) / 0.5 = 4.6 units; follow-ups: 0.6 / 0.15 = 4 units
    names = [PROFILE[j].feature for j in crowd_dimensions(CROWD, TYPICAL)]
    assert names == ["share_reasoning_requested", "log_mean_output", "share_multi_turn"]


def test_alike_counts_accounts_at_least_halfway_to_the_crowd_on_every_named_dimension() -> None:
    halfway = (CROWD + TYPICAL) / 2
    short = halfway.copy()
    short[[d.feature for d in PROFILE].index("share_multi_turn")] += 0.01  # more follow-ups: not halfway there
    profiles = np.vstack([CROWD, halfway, short, TYPICAL])
    assert alike(profiles, CROWD, TYPICAL) == 2


def test_a_harvest_like_neighbourhood_is_said_with_its_figures() -> None:
    text = crowd_reason(CROWDED_DENSITY, CROWD_BEHAVIOUR, 0, CROWD, TYPICAL, 8, (12, 3400))
    assert text == (
        "its 8 nearest accounts by behaviour (none of them sharing its payment, network or client) crowd 2.0x closer "
        "than typical and score 0.50 on their own behaviour: reasoning requested 95% (typical 5%), typical output "
        "3.0k tokens (typical 300 tokens), follow-up messages 0% (typical 60%); 12 of 3,400 accounts are at least "
        "halfway from typical to this on all 3"
    )
    loose = crowd_reason(CROWDED_DENSITY - 0.01, 0.9, 3, CROWD, TYPICAL, 8, (1, 2))
    assert loose is not None and "(3 sharing its payment" in loose and "closer" not in loose
    assert crowd_reason(2.0, CROWD_BEHAVIOUR - 0.01, 0, CROWD, TYPICAL, 8, (1, 2)) is None


def test_spread_dimensions_are_given_as_numbers() -> None:
    typical = profile(std_log_output=1.0)
    crowd = profile(std_log_output=0.1)
    text = crowd_reason(0.0, 0.9, 0, crowd, typical, 8, (1, 2))
    assert text is not None and "spread of output lengths 0.10 (typical 1.00)" in text


def test_iso_turns_epoch_seconds_into_an_aware_time_and_nothing_into_none() -> None:
    assert iso(0.0).isoformat() == "1970-01-01T00:00:00+00:00"
    assert iso(None) is None
    assert iso(float("nan")) is None
    assert iso(float("inf")) is None


def test_the_crowd_dimensions_are_ranked_by_their_exact_distance() -> None:
    # output 6 units away, tools 4.8, reasoning 4.2: whole units alone would tie tools and reasoning
    crowd = profile(log_mean_output=3.0, share_tools=0.96, share_reasoning_requested=0.63)
    names = [PROFILE[j].feature for j in crowd_dimensions(crowd, profile())]
    assert names == ["log_mean_output", "share_tools", "share_reasoning_requested"]


@pytest.mark.parametrize(
    ("hours", "text"),
    [(0.5, "30 min"), (1.0, "1.0 hours"), (47.9, "47.9 hours"), (48.0, "2 days"), (48.5, "2 days"), (72.0, "3 days")],
)
def test_creation_spans_are_said_in_minutes_hours_or_days(hours: float, text: str) -> None:
    created = 1.8e9 + HOUR * np.linspace(0, hours / 0.8, 11)  # the middle 80% spans `hours`
    reason = cluster_reasons(len(created), {"api_key": ["k"]}, created, {}, context(), 5)
    assert reason == [f"11 accounts created within {text} share an API key"]
