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


# --- an account's own evidence: below, at and above each threshold (the module's constants, written out) -----------

TEXT = {"share_text": 1.0}  # prompts seen (not redacted)
REASONING = "of its {} requests ask for step-by-step reasoning or extended thinking"
GRADING = "of its prompts are grading against a rubric (the model as a reward model)"


@pytest.mark.parametrize(
    ("n", "mean_out", "values", "expected"),
    [
        # step-by-step reasoning: 50% of at least 3 requests
        (3, 300, {"share_reasoning_requested": 0.5}, ["50% " + REASONING.format(3)]),
        (4, 300, {"share_reasoning_requested": 0.7}, ["70% " + REASONING.format(4)]),
        (3, 300, {"share_reasoning_requested": 0.49}, []),
        (2, 300, {"share_reasoning_requested": 1.0}, []),
        (10, 300, {"share_reasoning_text": 0.8}, []),  # reasoning in prompts that are not seen
        (
            10,
            300,
            {**TEXT, "share_reasoning_text": 0.8, "share_reasoning_requested": 0.6},
            ["80% " + REASONING.format(10)],
        ),
        # a kind of prompt: 40% of seen prompts, at least 3 requests
        (3, 300, {**TEXT, "share_grading_text": 0.4}, ["40% " + GRADING]),
        (10, 300, {**TEXT, "share_grading_text": 0.9}, ["90% " + GRADING]),
        (3, 300, {**TEXT, "share_grading_text": 0.39}, []),
        (2, 300, {**TEXT, "share_grading_text": 1.0}, []),
        (3, 300, {"share_grading_text": 1.0}, []),
        # single-turn with long outputs: 95% single-turn, mean output 1,500 tokens, at least 5 requests
        (5, 1500, {"share_multi_turn": 0.05}, ["95% single-turn with long outputs (mean 1.5k tokens)"]),
        (6, 2000, {"share_multi_turn": 0.0}, ["100% single-turn with long outputs (mean 2.0k tokens)"]),
        (5, 1550, {"share_multi_turn": 0.0}, ["100% single-turn with long outputs (mean 1.6k tokens)"]),
        (5, 2049, {"share_multi_turn": 0.0}, ["100% single-turn with long outputs (mean 2.0k tokens)"]),
        (4, 1500, {"share_multi_turn": 0.0}, []),
        (5, 1499, {"share_multi_turn": 0.0}, []),
        (5, 1500, {"share_multi_turn": 0.06}, []),
        # max_tokens >= 8k in 60% of at least 3 requests
        (3, 300, {"share_high_max_tokens": 0.6}, ["asks for max_tokens >= 8k in 60% of requests"]),
        (4, 300, {"share_high_max_tokens": 0.8}, ["asks for max_tokens >= 8k in 80% of requests"]),
        (3, 300, {"share_high_max_tokens": 0.59}, []),
        (2, 300, {"share_high_max_tokens": 1.0}, []),
        # one template in 60% of the seen prompts of at least 5 requests
        (5, 300, {**TEXT, "top_template_share": 0.6}, ["repeats one prompt template in 60% of its prompts"]),
        (6, 300, {**TEXT, "top_template_share": 0.9}, ["repeats one prompt template in 90% of its prompts"]),
        (5, 300, {**TEXT, "top_template_share": 0.59}, []),
        (4, 300, {**TEXT, "top_template_share": 1.0}, []),
        (5, 300, {"top_template_share": 1.0}, []),
        # machine-regular timing: std of log gaps below 0.5 over at least 8 requests
        (8, 300, {"std_log_gap": 0.0}, ["machine-regular timing between requests over 8 requests"]),
        (9, 300, {"std_log_gap": 0.49}, ["machine-regular timing between requests over 9 requests"]),
        (8, 300, {"std_log_gap": 0.5}, []),
        (8, 300, {"std_log_gap": 0.6}, []),
        (7, 300, {"std_log_gap": 0.0}, []),
        (8, 300, {"std_log_gap": -0.01}, []),  # too few gaps to measure
        # around the clock: hour entropy 0.93 over at least 24 requests
        (24, 300, {"hour_entropy": 0.93}, ["active around the clock with no daily rhythm"]),
        (30, 300, {"hour_entropy": 0.99}, ["active around the clock with no daily rhythm"]),
        (24, 300, {"hour_entropy": 0.92}, []),
        (23, 300, {"hour_entropy": 1.0}, []),
        # rate limited: 5% of at least 10 requests
        (10, 300, {"share_429": 0.05}, ["5% of requests rate-limited (429)"]),
        (11, 300, {"share_429": 0.2}, ["20% of requests rate-limited (429)"]),
        (10, 300, {"share_429": 0.049}, []),
        (9, 300, {"share_429": 1.0}, []),
    ],
)
def test_an_account_reason_is_said_from_its_threshold(n: int, mean_out: float, values: dict, expected: list) -> None:
    assert said(n=n, mean_out=mean_out, **values) == expected


@pytest.mark.parametrize(
    ("hours", "share", "model", "expected"),
    [
        (5.5, 0.5, "frontier-5", ["moved 50% of its traffic to frontier-5 5.5 hours after it first appeared"]),
        (0.5, 0.9, None, ["moved 90% of its traffic to a newly released model 30 min after it first appeared"]),
        (6.0, 0.9, None, []),  # within 6 hours of the release only
        (10.0, 0.9, None, []),
        (1.0, 0.49, None, []),  # half of its traffic at least
    ],
)
def test_a_pivot_to_a_new_model_names_the_model_and_how_soon(hours: float, share: float, model, expected) -> None:
    assert said(pivot_hours=hours, share_new_model_after_release=share, model=model) == expected


@pytest.mark.parametrize(
    ("days", "path", "expected"),
    [
        (2.999, None, ["account 3.0 days old at its first request"]),
        (0.5, "research", ["account 0.5 days old at its first request, verified through the research programme"]),
        (0.0, "enterprise", ["account 0.0 days old at its first request"]),  # not a farm programme
        (3.0, None, []),  # three days or older
        (5.0, "education", []),
    ],
)
def test_a_new_account_names_its_age_and_farm_programme(days: float, path: str | None, expected: list) -> None:
    values = {"log_account_age_days": math.log1p(days)} | ({f"path_{path}": 1.0} if path else {})
    assert said(**values) == expected


def test_an_unusual_profile_is_said_with_its_anomaly() -> None:
    assert said(anomaly=0.8) == ["unusual overall profile (anomaly 0.80 vs typical 0.5)"]
    assert said(anomaly=0.95) == ["unusual overall profile (anomaly 0.95 vs typical 0.5)"]
    assert said(anomaly=0.79) == []


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
    assert created_span(t0 + HOUR * np.linspace(0, 72 / 0.8, 11)) == pytest.approx(72.0)  # three days at most
    assert created_span(t0 + HOUR * np.linspace(0, 72.5 / 0.8, 11)) is None
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
    assert cluster_reasons(2, {"api_key": ["k"], "ip": ["a"]}, np.array([np.nan] * 2), {}, context(), 5) == [
        "2 accounts share an API key and 1 IP address"
    ]
    assert cluster_reasons(2, {}, created, {}, context(), 5) == []


def test_farm_programmes_are_said_when_they_verified_half_the_members() -> None:
    paths = {"education": 4, "startup": 1, "standard": 5}
    assert cluster_behaviour_reasons(10, {}, paths, context(), 40) == [
        "5 of 10 verified through education (4) / startup (1) programmes"
    ]
    assert cluster_behaviour_reasons(10, {}, paths | {"research": 3}, context(), 40) == [
        "8 of 10 verified through education (4) / research (3) / startup (1) programmes"
    ]
    assert cluster_behaviour_reasons(10, {}, paths | {"startup": 0}, context(), 40) == []


ROUND_THE_CLOCK = "together they run around the clock ({} requests, only {} per account: load spread thin)"


@pytest.mark.parametrize(
    ("size", "entropy", "expected"),
    [
        (5, 0.93, [ROUND_THE_CLOCK.format(100, 20)]),  # entropy 0.93, five members at least
        (10, 0.99, [ROUND_THE_CLOCK.format(100, 10)]),
        (5, 0.93, [ROUND_THE_CLOCK.format(100, 20)]),
        (4, 1.0, []),
        (5, 0.92, []),
    ],
)
def test_a_cluster_around_the_clock_needs_enough_members(size: int, entropy: float, expected: list) -> None:
    assert cluster_behaviour_reasons(size, {}, {}, context(c_hour_entropy=entropy), 100) == expected


def test_requests_per_member_are_rounded_not_truncated() -> None:
    assert cluster_behaviour_reasons(5, {}, {}, context(c_hour_entropy=1.0), 109) == [ROUND_THE_CLOCK.format(109, 22)]


@pytest.mark.parametrize(("share", "said_as"), [(0.5, "50%"), (0.8, "80%"), (0.49, None)])
def test_a_cluster_asking_for_reasoning(share: float, said_as: str | None) -> None:
    expected = [f"{said_as} of the cluster's requests ask for reasoning traces"] if said_as else []
    assert cluster_behaviour_reasons(3, {}, {}, context(c_reasoning_share=share), 10) == expected


@pytest.mark.parametrize(
    ("multi_turn", "requests", "said_it"), [(0.05, 20, True), (0.0, 21, True), (0.05, 19, False), (0.06, 100, False)]
)
def test_a_single_turn_cluster_needs_enough_requests(multi_turn: float, requests: int, said_it: bool) -> None:
    expected = ["single-turn harvesting: almost no follow-up messages"] if said_it else []
    assert cluster_behaviour_reasons(3, {}, {}, context(c_multi_turn_share=multi_turn), requests) == expected


def test_an_ip_pool_counts_the_addresses_it_rotates_through() -> None:
    pool = context(c_log_ips_per_member=math.log1p(2.0))
    assert cluster_behaviour_reasons(5, {"ip": ["a", "b", "c"]}, {}, pool, 10) == [
        "requests rotate across a pool of 10 IP addresses (2.0 per account), 3 of them used by several members"
    ]
    assert cluster_behaviour_reasons(6, {}, {}, pool, 10) == [
        "requests rotate across a pool of 12 IP addresses (2.0 per account)"
    ]
    at = context(c_log_ips_per_member=math.log1p(0.5))  # half an address per member, five members at least
    assert cluster_behaviour_reasons(10, {}, {}, at, 10) == [
        "requests rotate across a pool of 5 IP addresses (0.5 per account)"
    ]
    below = context(c_log_ips_per_member=math.log1p(0.49))
    assert cluster_behaviour_reasons(5, {}, {}, below, 10) == []
    assert cluster_behaviour_reasons(4, {}, {}, pool, 10) == []


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
    profiles = np.vstack([CROWD, halfway, halfway, short, TYPICAL])
    assert alike(profiles, CROWD, TYPICAL) == 3


def test_a_harvest_like_neighbourhood_is_said_with_its_figures() -> None:
    text = crowd_reason(math.log(2.0), 0.5, 0, CROWD, TYPICAL, 8, (12, 3400))  # twice as dense, behaviour 0.5
    assert text == (
        "its 8 nearest accounts by behaviour (none of them sharing its payment, network or client) crowd 2.0x closer "
        "than typical and score 0.50 on their own behaviour: reasoning requested 95% (typical 5%), typical output "
        "3.0k tokens (typical 300 tokens), follow-up messages 0% (typical 60%); 12 of 3,400 accounts are at least "
        "halfway from typical to this on all 3"
    )
    denser = crowd_reason(1.0, 0.9, 0, CROWD, TYPICAL, 8, (1, 2))
    assert denser is not None and "crowd 2.7x closer than typical and score 0.90" in denser
    loose = crowd_reason(0.69, 0.9, 3, CROWD, TYPICAL, 8, (1, 2))
    assert loose is not None and "(3 sharing its payment" in loose and "closer" not in loose
    assert crowd_reason(2.0, 0.49, 0, CROWD, TYPICAL, 8, (1, 2)) is None


def test_token_dimensions_are_given_in_thousands_from_a_thousand() -> None:
    typical = profile(log_mean_output=math.log1p(999))
    text = crowd_reason(0.0, 0.9, 0, profile(log_mean_output=math.log1p(1000)), typical, 8, (1, 2))
    assert text is not None and "typical output 1.0k tokens (typical 999 tokens)" in text


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
    [
        (0.5, "30 min"),
        (0.9, "54 min"),
        (1.0, "1.0 hours"),
        (47.9, "47.9 hours"),
        (48.0, "2 days"),
        (48.5, "2 days"),
        (60.0, "2 days"),
        (62.0, "3 days"),
        (66.0, "3 days"),
        (72.0, "3 days"),
    ],
)
def test_creation_spans_are_said_in_minutes_hours_or_days(hours: float, text: str) -> None:
    created = 1.8e9 + HOUR * np.linspace(0, hours / 0.8, 11)  # the middle 80% spans `hours`
    reason = cluster_reasons(len(created), {"api_key": ["k"]}, created, {}, context(), 5)
    assert reason == [f"11 accounts created within {text} share an API key"]
