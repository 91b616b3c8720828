"""Legitimate accounts that look like adaptive harvesting, in every scenario (a real API has them).

``power_user``: heavy individuals, reasoning often on and long answers, but conversational (multi-turn, personal
context, varied topics, their own hours). ``researcher``: lab groups of a few accounts behind one university
network running evaluation scripts (single-turn, reasoning on, long outputs, bursts when a run starts).
``tutoring_app``: one backend account relaying many students' curriculum questions around the clock of its
market. ``agent_platform``: a coding product relaying many developers' tool-use sessions.
"""

from __future__ import annotations

from collections.abc import Callable

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
GROUP_SIZE = (2, 6)
RUNS_PER_DAY = 0.8  # evaluation runs a researcher starts a day
RUN_SIZE = (120.0, 400.0)  # items per run
RUN_GAP_S = (0.8, 4.0)  # seconds between a run's requests
SAME_SDK_SHARE = 0.7  # lab members running the group's harness with its SDK build
TUTOR_CONVS_PER_DAY, TUTOR_SIGMA = 700.0, 0.5
TUTOR_TURNS, TUTOR_GAP_S = 1.6, 60.0
PLATFORM_SESSIONS_PER_DAY, PLATFORM_SIGMA = 250.0, 0.5
PLATFORM_TURNS, PLATFORM_GAP_S = 5.0, 15.0
MARKET_OFFSETS = (-6.0, -3.0, 0.0, 1.0, 5.5, 8.0, 9.0)  # a backend's market time zone


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
        if rng.random() < 0.5:
            ips.append((*net.cgnat_ip(c, rng), c))
        browser = rng.random() < 0.7
        prof = Profile(
            out_median=float(rng.uniform(1200, 2500)),
            max_tokens=(8192, 16384),
            temperature=(None,),
            reasoning_p=float(rng.uniform(0.4, 0.7)),
        )
        a = b.add(
            Actor(
                b.hexid("acct_"),
                "power_user",
                False,
                None,
                b.keys(),
                b.aged(60, 1000),
                "standard",
                c,
                b.card(),
                ips,
                net.pick_browser(rng) if browser else net.pick_official_sdk(rng),
                "power",
                prof,
                lang=text.COUNTRY_LANG.get(c, "en") if rng.random() < 0.3 else "en",
                extra={"topics": rng.choice(len(text.TOPICS), size=4).tolist()},
            )
        )
        b.human_convs(a, float(rng.uniform(*POWER_CONVS_PER_DAY)), POWER_TURNS, POWER_GAP_S)
        b.set_models(a, 0.05, *b.adoption(0.3, 0.3))
    b.legit_counts["power_user"] = count


def researchers(b: Builder, groups: int) -> None:
    """Lab groups behind their university's network, each running its shared evaluation harness."""
    rng = b.rng
    total = 0
    for _ in range(groups):
        asn = int(rng.choice(list(net.UNIVERSITY_ASNS)))
        country = net.UNIVERSITY_ASNS[asn]
        nat = [(net.ip_in(asn, rng), asn, country) for _ in range(int(rng.integers(1, 3)))]
        fmt = curriculum.EVAL_FORMATS[int(rng.integers(len(curriculum.EVAL_FORMATS)))]
        subjects = tuple(str(s) for s in rng.choice(list(curriculum.SUBJECTS), size=3, replace=False))
        sdk, org = net.pick_official_sdk(rng), b.hexid("org_", 8)
        size = int(rng.integers(GROUP_SIZE[0], GROUP_SIZE[1] + 1))
        for _ in range(size):
            prof = Profile(
                out_median=float(rng.uniform(1500, 3000)),
                out_sigma=0.5,
                max_tokens=(int(rng.choice([8192, 16384, 32000])),),
                temperature=(0.0,),
                reasoning_p=0.9,
                rate_limit_p=0.03,
            )
            a = b.add(
                Actor(
                    b.hexid("acct_"),
                    "researcher",
                    False,
                    None,
                    b.keys(0.3),
                    b.aged(30, 600),
                    "research" if rng.random() < 0.6 else "education",
                    country,
                    b.card(),
                    nat,
                    sdk if rng.random() < SAME_SDK_SHARE else net.pick_official_sdk(rng),
                    "research",
                    prof,
                    org_id=org if rng.random() < 0.5 else None,
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
    rate = hourly_rate(WORK, net.utc_offset(a.billing_country or "US"), b.days, b.weekday, 0.3)
    starts = sample_times(rng, rate, max(1, b.poisson_days(RUNS_PER_DAY)), b.days)
    t = np.sort(bursts(rng, starts, float(rng.uniform(*RUN_SIZE)), float(rng.uniform(*RUN_GAP_S))))
    b.set_plan(a, t, np.arange(len(t)), np.zeros(len(t), dtype=np.int64), ip=rng.integers(0, len(a.ips), size=len(t)))
    b.set_models(a, 0.1, b.release + float(rng.uniform(1, 6)) * HOUR, float(rng.uniform(0.3, 0.8)))


# kind -> (content, sessions a day, lognormal spread, mean turns, gap between turns)
BACKENDS: dict[str, tuple[str, float, float, float, float]] = {
    "tutoring_app": ("tutor", TUTOR_CONVS_PER_DAY, TUTOR_SIGMA, TUTOR_TURNS, TUTOR_GAP_S),
    "agent_platform": ("platform", PLATFORM_SESSIONS_PER_DAY, PLATFORM_SIGMA, PLATFORM_TURNS, PLATFORM_GAP_S),
}


def backends(b: Builder, kind: str, count: int) -> None:
    """App backends relaying many end users: tutoring apps (curriculum questions, reasoning on, long answers)
    or agent platforms (coding sessions with tools)."""
    rng = b.rng
    content, per_day, sigma, turns, gap = BACKENDS[kind]
    for _ in range(count):
        asn = int(rng.choice(net.CLOUD_MAIN))
        sub = net.subnet24(asn, rng)
        ips = [(net.ip_in(asn, rng, sub), asn, net.CLOUD_ASNS[asn]) for _ in range(int(rng.integers(1, 5)))]
        brand = text.BRANDS[int(rng.integers(len(text.BRANDS)))]
        tutor = kind == "tutoring_app"
        tools = () if tutor else text.AGENT_TOOLS[int(rng.integers(len(text.AGENT_TOOLS)))]
        prof = Profile(
            out_median=float(rng.uniform(1000, 2200)),
            out_sigma=0.5,
            max_tokens=(int(rng.choice([4096, 8192, 16384])),),
            temperature=(float(rng.choice([0.0, 0.3, 0.7])),),
            reasoning_p=float(rng.uniform(0.5, 0.9)) if tutor else float(rng.uniform(0.1, 0.4)),
            tools=tools,
            tools_p=1.0,
            rate_limit_p=0.01,
            history_tokens=600 if tutor else 2000,
        )
        system = curriculum.tutor_system(b.r, brand) if tutor else curriculum.platform_system(b.r, brand)
        a = b.add(
            Actor(
                b.hexid("acct_"),
                kind,
                False,
                None,
                b.keys(0.3),
                b.aged(60, 900),
                "startup" if rng.random() < 0.4 else "standard",
                net.CLOUD_ASNS[asn],
                b.card(),
                ips,
                net.pick_official_sdk(rng),
                content,
                prof,
                org_id=b.hexid("org_", 8),
                extra={"system": system},
            )
        )
        rate = hourly_rate(APP, float(rng.choice(MARKET_OFFSETS)), b.days, b.weekday)
        k = max(5, b.poisson_days(float(rng.lognormal(np.log(per_day), sigma))))
        t, conv, turn = conversations(rng, sample_times(rng, rate, k, b.days), turns, gap)
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
