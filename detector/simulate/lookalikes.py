"""Legitimate accounts that look like adaptive harvesting, in every scenario (a real API has them).

``power_user``: heavy individuals, reasoning often on and long answers, but conversational (multi-turn, personal
context, varied topics, their own hours). ``researcher``: lab groups of a few accounts behind one university
network running evaluation scripts (single-turn, reasoning on, long outputs, bursts when a run starts).
``tutoring_app``: one backend account relaying many students' curriculum questions around the clock of its
market. ``agent_platform``: a coding product relaying many developers' tool-use sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from distillguard.detector.simulate import curriculum, text
from distillguard.detector.simulate import network as net
from distillguard.detector.simulate.population import Actor, Builder, Profile
from distillguard.detector.simulate.timing import APP, WORK, bursts, conversations, hourly_rate, sample_times
from distillguard.detector.units import HOUR

# Accounts (or groups) at scale 1, and the floor at small scales.
POWER_USERS, POWER_FLOOR = 60, 4
RESEARCH_GROUPS, RESEARCH_FLOOR = 6, 1
TUTORING_APPS, TUTORING_FLOOR = 8, 1
AGENT_PLATFORMS, PLATFORM_FLOOR = 4, 1

POWER_CONVS_PER_DAY = (12.0, 30.0)
POWER_TURNS, POWER_GAP_S = 4.0, 90.0
POWER_OUTPUT = (1200.0, 2500.0)  # median answer length of a heavy user
POWER_REASONING = (0.4, 0.7)  # share of requests with reasoning on
POWER_MAX_TOKENS = (8192, 16384)
POWER_PHONE_SHARE = 0.5  # also on a carrier's shared mobile address
POWER_BROWSER_SHARE = 0.7  # in the web app (the others through an SDK)
POWER_LOCAL_LANGUAGE_SHARE = 0.3
POWER_TOPICS = 4
POWER_AGE_DAYS = (60, 1000)
POWER_ADOPTION = (0.3, 0.3)  # early and late adopters of the new model

GROUP_SIZE = (2, 6)
GROUP_NAT_IPS = (1, 2)
RUNS_PER_DAY = 0.8  # evaluation runs a researcher starts a day
RUN_SIZE = (120.0, 400.0)  # items per run
RUN_GAP_S = (0.8, 4.0)  # seconds between a run's requests
RESEARCH_OUTPUT = (1500.0, 3000.0)
RESEARCH_OUTPUT_SIGMA = 0.5
RESEARCH_SUBJECTS = 3  # curriculum subjects a lab's benchmark covers
RESEARCH_MAX_TOKENS = (8192, 16384, 32000)  # one per account, as its harness sets it
RESEARCH_REASONING = 0.9
RESEARCH_RATE_LIMITED = 0.03  # runs hit the rate limit
RESEARCH_PATH_SHARE = 0.6  # on the research verification path (the others: education)
RESEARCH_ORG_SHARE = 0.5  # members billed to the lab's organisation
RESEARCH_AGE_DAYS = (30, 600)
RESEARCH_WEEKEND = 0.3
RESEARCH_EVAL_AFTER_H = (1.0, 6.0)  # a lab evaluates the new model within hours of release
RESEARCH_EVAL_SHARE = (0.3, 0.8)
SAME_SDK_SHARE = 0.7  # lab members running the group's harness with its SDK build

MARKET_OFFSETS = (-6.0, -3.0, 0.0, 1.0, 5.5, 8.0, 9.0)  # a backend's market time zone
BACKEND_IPS = (1, 4)
BACKEND_MAX_TOKENS = (4096, 8192, 16384)
BACKEND_TEMPERATURES = (0.0, 0.3, 0.7)
BACKEND_AGE_DAYS = (60, 900)
BACKEND_STARTUP_SHARE = 0.4  # on the startup verification path
BACKEND_MIN_SESSIONS = 5
BACKEND_RATE_LIMITED = 0.01
BACKEND_OUTPUT_SIGMA = 0.5


@dataclass(frozen=True)
class Backend:
    """What an app backend relays: its content, sessions a day (lognormal), turns and answers."""

    content: str
    sessions_per_day: float
    sessions_sigma: float
    mean_turns: float
    gap_s: float
    output: tuple[float, float]  # median answer length, drawn per backend
    reasoning: tuple[float, float]  # share of requests with reasoning on, drawn per backend
    history_tokens: int
    coding: bool  # sends a coding product's system prompt and tools (else a tutor's, no tools)


BACKENDS = {
    "tutoring_app": Backend("tutor", 700.0, 0.5, 1.6, 60.0, (1000.0, 2200.0), (0.5, 0.9), 600, False),
    "agent_platform": Backend("platform", 250.0, 0.5, 5.0, 15.0, (900.0, 1800.0), (0.1, 0.4), 2000, True),
}


def populate(b: Builder) -> None:
    """Add every look-alike population (after the scenario's other draws)."""
    power_users(b, b.n(POWER_USERS, POWER_FLOOR))
    researchers(b, b.n(RESEARCH_GROUPS, RESEARCH_FLOOR))
    backends(b, "tutoring_app", b.n(TUTORING_APPS, TUTORING_FLOOR))
    backends(b, "agent_platform", b.n(AGENT_PLATFORMS, PLATFORM_FLOOR))


def power_users(b: Builder, count: int) -> None:
    """Heavy individuals: long conversations, reasoning often on, long answers, at their own hours."""
    rng = b.rng
    for _ in range(count):
        c = net.pick_country(rng)
        home = net.residential_ip(c, rng)
        ips = [(home[0], home[1], c)]
        if rng.random() < POWER_PHONE_SHARE:
            ips.append((*net.cgnat_ip(c, rng), c))
        browser = rng.random() < POWER_BROWSER_SHARE
        prof = Profile(
            out_median=float(rng.uniform(*POWER_OUTPUT)),
            max_tokens=POWER_MAX_TOKENS,
            temperature=(None,),
            reasoning_p=float(rng.uniform(*POWER_REASONING)),
        )
        a = b.add(
            Actor(
                b.hexid("acct_"),
                "power_user",
                False,
                None,
                b.keys(),
                b.aged(*POWER_AGE_DAYS),
                "standard",
                c,
                b.card(),
                ips,
                net.pick_browser(rng) if browser else net.pick_official_sdk(rng),
                "power",
                prof,
                lang=text.COUNTRY_LANG.get(c, "en") if rng.random() < POWER_LOCAL_LANGUAGE_SHARE else "en",
                extra={"topics": rng.choice(len(text.TOPICS), size=POWER_TOPICS).tolist()},
            )
        )
        b.human_convs(a, float(rng.uniform(*POWER_CONVS_PER_DAY)), POWER_TURNS, POWER_GAP_S)
        b.set_models(a, 0.05, *b.adoption(*POWER_ADOPTION))
    b.legit_counts["power_user"] = count


def researchers(b: Builder, groups: int) -> None:
    """Lab groups behind their university's network, each running its shared evaluation harness."""
    rng = b.rng
    total = 0
    for _ in range(groups):
        asn = int(rng.choice(list(net.UNIVERSITY_ASNS)))
        country = net.UNIVERSITY_ASNS[asn]
        nat = [
            (net.ip_in(asn, rng), asn, country)
            for _ in range(int(rng.integers(GROUP_NAT_IPS[0], GROUP_NAT_IPS[1] + 1)))
        ]
        fmt = curriculum.EVAL_FORMATS[int(rng.integers(len(curriculum.EVAL_FORMATS)))]
        subjects = tuple(str(s) for s in rng.choice(list(curriculum.SUBJECTS), size=RESEARCH_SUBJECTS, replace=False))
        sdk, org = net.pick_official_sdk(rng), b.hexid("org_", 8)
        size = int(rng.integers(GROUP_SIZE[0], GROUP_SIZE[1] + 1))
        for _ in range(size):
            prof = Profile(
                out_median=float(rng.uniform(*RESEARCH_OUTPUT)),
                out_sigma=RESEARCH_OUTPUT_SIGMA,
                max_tokens=(int(rng.choice(RESEARCH_MAX_TOKENS)),),
                temperature=(0.0,),
                reasoning_p=RESEARCH_REASONING,
                rate_limit_p=RESEARCH_RATE_LIMITED,
            )
            a = b.add(
                Actor(
                    b.hexid("acct_"),
                    "researcher",
                    False,
                    None,
                    b.keys(0.3),
                    b.aged(*RESEARCH_AGE_DAYS),
                    "research" if rng.random() < RESEARCH_PATH_SHARE else "education",
                    country,
                    b.card(),
                    nat,
                    sdk if rng.random() < SAME_SDK_SHARE else net.pick_official_sdk(rng),
                    "research",
                    prof,
                    org_id=org if rng.random() < RESEARCH_ORG_SHARE else None,
                    sends_conv=False,
                    extra={"format": fmt, "subjects": subjects},
                )
            )
            _eval_runs(b, a)
        total += size
    b.legit_counts["researcher"] = total


def _eval_runs(b: Builder, a: Actor) -> None:
    """A researcher's schedule: runs started in working hours, each a burst of single-turn items."""
    rng = b.rng
    rate = hourly_rate(WORK, net.utc_offset(a.billing_country or "US"), b.days, b.weekday, RESEARCH_WEEKEND)
    starts = sample_times(rng, rate, max(1, b.poisson_days(RUNS_PER_DAY)), b.days)
    t = np.sort(bursts(rng, starts, float(rng.uniform(*RUN_SIZE)), float(rng.uniform(*RUN_GAP_S))))
    b.set_plan(a, t, np.arange(len(t)), np.zeros(len(t), dtype=np.int64), ip=rng.integers(0, len(a.ips), size=len(t)))
    adopt = b.release + float(rng.uniform(*RESEARCH_EVAL_AFTER_H)) * HOUR
    b.set_models(a, 0.1, adopt, float(rng.uniform(*RESEARCH_EVAL_SHARE)))


def backends(b: Builder, kind: str, count: int) -> None:
    """App backends relaying many end users' sessions around the clock of their market: tutoring apps
    (curriculum questions, reasoning often on, long answers) or agent platforms (coding sessions with tools)."""
    rng = b.rng
    spec = BACKENDS[kind]
    for _ in range(count):
        asn = int(rng.choice(net.CLOUD_MAIN))
        sub = net.subnet24(asn, rng)
        n_ips = int(rng.integers(BACKEND_IPS[0], BACKEND_IPS[1] + 1))
        ips = [(net.ip_in(asn, rng, sub), asn, net.CLOUD_ASNS[asn]) for _ in range(n_ips)]
        brand = text.BRANDS[int(rng.integers(len(text.BRANDS)))]
        prof = Profile(
            out_median=float(rng.uniform(*spec.output)),
            out_sigma=BACKEND_OUTPUT_SIGMA,
            max_tokens=(int(rng.choice(BACKEND_MAX_TOKENS)),),
            temperature=(float(rng.choice(BACKEND_TEMPERATURES)),),
            reasoning_p=float(rng.uniform(*spec.reasoning)),
            tools=text.AGENT_TOOLS[int(rng.integers(len(text.AGENT_TOOLS)))] if spec.coding else (),
            rate_limit_p=BACKEND_RATE_LIMITED,
            history_tokens=spec.history_tokens,
        )
        system = curriculum.platform_system(b.r, brand) if spec.coding else curriculum.tutor_system(b.r, brand)
        a = b.add(
            Actor(
                b.hexid("acct_"),
                kind,
                False,
                None,
                b.keys(0.3),
                b.aged(*BACKEND_AGE_DAYS),
                "startup" if rng.random() < BACKEND_STARTUP_SHARE else "standard",
                net.CLOUD_ASNS[asn],
                b.card(),
                ips,
                net.pick_official_sdk(rng),
                spec.content,
                prof,
                org_id=b.hexid("org_", 8),
                extra={"system": system},
            )
        )
        rate = hourly_rate(APP, float(rng.choice(MARKET_OFFSETS)), b.days, b.weekday)
        per_day = float(rng.lognormal(np.log(spec.sessions_per_day), spec.sessions_sigma))
        starts = sample_times(rng, rate, max(BACKEND_MIN_SESSIONS, b.poisson_days(per_day)), b.days)
        t, conv, turn = conversations(rng, starts, spec.mean_turns, spec.gap_s)
        b.set_plan(a, t, conv, turn, ip=rng.integers(0, len(ips), size=len(t)))
        b.set_models(a, 0.0)
    b.legit_counts[kind] = count


def _power(r: text.Rnd, a: Actor, turn: int) -> tuple[str, str | None, list[str]]:
    topics = a.extra["topics"]
    if turn == 0:
        return curriculum.power_question(r), None, []
    return text.legit_prompt(r, topics[int(r.random() * len(topics))], turn, a.lang), None, []


def _research(r: text.Rnd, a: Actor, _turn: int) -> tuple[str, str | None, list[str]]:
    return curriculum.eval_item(r, a.extra["format"], a.extra["subjects"]), None, []


def _tutor(r: text.Rnd, a: Actor, turn: int) -> tuple[str, str | None, list[str]]:
    return curriculum.tutor_prompt(r, turn), a.extra["system"], []


def _platform(r: text.Rnd, a: Actor, turn: int) -> tuple[str, str | None, list[str]]:
    return curriculum.coding_turn(r, turn), a.extra["system"], list(a.profile.tools)


# content -> (prompt, system prompt, tools) of one request
CONTENT: dict[str, Callable[[text.Rnd, Actor, int], tuple[str, str | None, list[str]]]] = {
    "power": _power,
    "research": _research,
    "tutor": _tutor,
    "platform": _platform,
}
