"""Who is in a simulated day: the legitimate populations (individuals, developers, app backends, university
classes, enterprise seats, benchmark runs, reseller customers) and the attack campaigns (hydra proxies,
low-and-slow rings, lone harvesters), each account with its identity, network, client and a planned schedule."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from distillguard.detector.simulate import network as net
from distillguard.detector.simulate import text
from distillguard.detector.simulate.timing import (
    APP,
    CLASS,
    HUMAN,
    WORK,
    bursts,
    conversations,
    hourly_rate,
    job_stream,
    round_robin,
    sample_times,
)
from distillguard.detector.units import DAY, HOUR

INF = float("inf")
CLASSIC_SCENARIOS = ("standard", "hard")  # the scenarios with hydras, low-and-slow rings and lone harvesters
MODEL_OLD, MODEL_MINI, MODEL_NEW = 0, 1, 2


@dataclass(slots=True)
class Profile:
    """How an account's requests look: output length, limits, sampling, reasoning, tools, errors."""

    out_median: float = 350.0
    out_sigma: float = 0.8
    max_tokens: tuple[int, ...] = (1024, 2048, 4096)
    temperature: tuple[float | None, ...] = (None, 0.7, 1.0)
    reasoning_p: float = 0.03
    tools: tuple[str, ...] = ()
    tools_p: float = 0.0
    rate_limit_p: float = 0.004
    history_tokens: int = 350


@dataclass(slots=True)
class Actor:
    """One account and everything fixed about it."""

    account_id: str
    kind: str
    attack: bool
    campaign: str | None
    api_keys: tuple[str, ...]
    created_at: datetime
    verification: str
    billing_country: str | None
    payment: str | None
    ips: list[tuple[str, int, str]]
    client: net.Client
    content: str
    profile: Profile
    org_id: str | None = None
    lang: str = "en"
    sends_conv: bool = True
    endpoint: str = "messages"
    extra: dict = field(default_factory=dict)
    # schedule (filled by the planner): times, conversation, turn, ip index, camouflage flag, model
    t: np.ndarray | None = None
    conv: np.ndarray | None = None
    turn: np.ndarray | None = None
    ip: np.ndarray | None = None
    camo: np.ndarray | None = None
    model: np.ndarray | None = None

    def planned(self, schedule: np.ndarray | None) -> np.ndarray:
        """One of this actor's schedule arrays, which the planner must have filled before it is read."""
        if schedule is None:
            raise UnplannedActorError(f"{self.account_id}: schedule read before the planner filled it")
        return schedule


class UnplannedActorError(RuntimeError):
    """An actor's schedule was read before the planner set it: a bug in the population builder."""


@dataclass(slots=True)
class Campaign:
    id: str
    kind: str
    focus: str
    members: list[Actor]
    info: dict


class Builder:
    """Builds the whole population for one seed/scale/scenario; every draw comes from one numpy Generator."""

    def __init__(self, seed: int, scale: float, scenario: str, days: float, start: datetime, release_s: float):
        self.rng = np.random.default_rng([seed, 0x5137])
        self.r = random.Random(seed * 7919 + 17)  # picks text templates
        self.scale, self.scenario, self.days, self.start, self.release = scale, scenario, days, start, release_s
        self.hard = scenario == "hard"
        self.weekday = start.weekday()
        self.actors: list[Actor] = []
        self.campaigns: list[Campaign] = []
        self.legit_counts: dict[str, int] = {}
        self._ids: set[str] = set()

    # --------------------------------------------------------------------------------------- helpers
    def n(self, base: float, floor: int) -> int:
        return max(floor, round(base * self.scale))

    def hexid(self, prefix: str, k: int = 10) -> str:
        while True:
            s = prefix + "".join(f"{x:02x}" for x in self.rng.integers(0, 256, size=(k + 1) // 2))[:k]
            if s not in self._ids:
                self._ids.add(s)
                return s

    def card(self) -> str:
        return "".join(f"{x:02x}" for x in self.rng.integers(0, 256, size=6))

    def aged(self, lo_days: float, hi_days: float) -> datetime:
        return self.start - timedelta(
            days=float(self.rng.uniform(lo_days, hi_days)), seconds=float(self.rng.integers(0, int(DAY)))
        )

    def keys(self, extra_p: float = 0.15) -> tuple[str, ...]:
        k = 1 + int(self.rng.random() < extra_p)
        return tuple(self.hexid("key_", 8) for _ in range(k))

    def poisson_days(self, per_day: float) -> int:
        return int(self.rng.poisson(per_day * self.days))

    def human_convs(
        self, a: Actor, per_day: float, mean_turns: float, gap_s: float, profile=HUMAN, weekend=1.0, min_one=True
    ) -> None:
        tz = net.local_offset(a.billing_country or "US", self.rng)
        rate = hourly_rate(profile, tz, self.days, self.weekday, weekend)
        k = max(int(min_one), self.poisson_days(per_day))
        starts = sample_times(self.rng, rate, k, self.days)
        t, conv, turn = conversations(self.rng, starts, mean_turns, gap_s)
        self.set_plan(a, t, conv, turn)

    def camouflage(self, a: Actor, n_convs: int) -> None:
        """Mix ordinary multi-turn chats (flagged ``camo``) into an account's schedule, at human hours."""
        rate = hourly_rate(HUMAN, net.local_offset(a.billing_country or "US", self.rng), self.days, self.weekday)
        ct, cconv, cturn = conversations(self.rng, sample_times(self.rng, rate, n_convs, self.days), 3.0, 60.0)
        keep = ct < self.days * DAY
        ct, cconv, cturn = ct[keep], cconv[keep], cturn[keep]
        conv = a.planned(a.conv)
        base = int(conv.max()) + 1 if len(conv) else 0
        t = np.concatenate([a.t, ct])
        o = np.argsort(t, kind="stable")
        a.t, a.conv, a.turn = t[o], np.concatenate([a.conv, base + cconv])[o], np.concatenate([a.turn, cturn])[o]
        a.ip = np.concatenate([a.ip, self.rng.integers(0, len(a.ips), size=len(ct))])[o]
        a.camo = np.concatenate([a.camo, np.ones(len(ct), dtype=bool)])[o]

    def set_plan(
        self,
        a: Actor,
        t: np.ndarray,
        conv: np.ndarray,
        turn: np.ndarray,
        ip: np.ndarray | None = None,
        camo: np.ndarray | None = None,
    ) -> None:
        keep = t < self.days * DAY
        a.t, a.conv, a.turn = t[keep], conv[keep], turn[keep]
        if ip is None:
            w = np.array([0.8] + [0.2 / max(1, len(a.ips) - 1)] * (len(a.ips) - 1)) if len(a.ips) > 1 else np.ones(1)
            ip = self.rng.choice(len(a.ips), size=len(t), p=w / w.sum())
        a.ip = np.asarray(ip)[keep]
        a.camo = np.zeros(keep.sum(), dtype=bool) if camo is None else np.asarray(camo)[keep]

    def set_models(self, a: Actor, mini_p: float, adopt_at: float = INF, adopt_share: float = 0.0) -> None:
        """Model per request, consistent within a conversation: the new model only after ``adopt_at``."""
        t = a.planned(a.t)
        n = len(t)
        if n == 0:
            a.model = np.zeros(0, dtype=np.int8)
            return
        ids, grp = np.unique(a.planned(a.conv), return_inverse=True)
        starts = np.full(len(ids), np.inf)
        np.minimum.at(starts, grp, t)
        u = self.rng.random(len(starts))
        m = np.where(u < mini_p, MODEL_MINI, MODEL_OLD)
        new = (starts >= max(adopt_at, self.release)) & (self.rng.random(len(starts)) < adopt_share)
        m = np.where(new, MODEL_NEW, m).astype(np.int8)
        a.model = m[grp]

    def adoption(self, early_p: float, late_p: float) -> tuple[float, float]:
        """(adopt time, share) for a legit user: early adopters within an hour, a few later, most never."""
        u = self.rng.random()
        if u < early_p:
            return self.release + float(self.rng.uniform(60, HOUR)), float(self.rng.uniform(0.4, 0.9))
        if u < early_p + late_p:
            return self.release + float(self.rng.uniform(2 * HOUR, 14 * HOUR)), float(self.rng.uniform(0.2, 0.7))
        return INF, 0.0

    def add(self, a: Actor) -> Actor:
        self.actors.append(a)
        return a

    # ----------------------------------------------------------------------------------- legit kinds
    def individuals(self, count: int) -> None:
        prev: Actor | None = None
        for _ in range(count):
            # a second account in the same home
            housemate = prev if prev is not None and self.rng.random() < 0.04 else None
            if housemate is not None:
                c, home = housemate.ips[0][2], housemate.ips[0][:2]  # its home address, in its billing country
            else:
                c = net.pick_country(self.rng)
                home = net.residential_ip(c, self.rng)
            ips = [(home[0], home[1], c)]
            if self.rng.random() < 0.35:  # phone on a carrier's CGNAT: strangers share these addresses
                ips.append((*net.cgnat_ip(c, self.rng), c))
            if self.rng.random() < 0.04:  # a consumer VPN: hosting ASN, another country
                vpn = int(self.rng.choice(list(net.VPN_ASNS)))
                ips.append((net.ip_in(vpn, self.rng), vpn, net.VPN_ASNS[vpn]))
            browser = self.rng.random() < 0.8
            client = net.pick_browser(self.rng) if browser else net.pick_sdk(self.rng)
            lang = text.COUNTRY_LANG.get(c, "en") if self.rng.random() < 0.5 else "en"
            step = float(self.rng.random() < 0.15) * float(self.rng.uniform(0.1, 0.4))
            prof = Profile(
                out_median=float(self.rng.uniform(250, 600)),
                max_tokens=(4096, 8192) if browser else (1024, 2048, 4096),
                reasoning_p=0.12 if step else 0.02,
                temperature=(None,) if browser else (None, 0.7, 1.0, 0.2),
            )
            card = (
                housemate.payment
                if housemate is not None and self.rng.random() < 0.5
                else None
                if self.rng.random() < 0.3
                else self.card()
            )
            a = self.add(
                Actor(
                    self.hexid("acct_"),
                    "individual",
                    False,
                    None,
                    self.keys(),
                    self.aged(40, 1100),
                    "standard",
                    c,
                    card,
                    ips,
                    client,
                    "chat",
                    prof,
                    lang=lang,
                    sends_conv=browser or self.rng.random() < 0.5,
                    extra={"step": step, "topics": self.rng.choice(9, size=3).tolist()},
                )
            )
            power = self.rng.random() < 0.02  # heavy users: all day in the app, long answers, often step by step
            if power:
                a.profile.out_median, a.profile.reasoning_p, a.extra["step"] = (
                    float(self.rng.uniform(900, 2000)),
                    0.3,
                    0.3,
                )
            self.human_convs(
                a, float(self.rng.uniform(40, 120)) if power else float(self.rng.lognormal(np.log(7.0), 0.8)), 3.2, 70.0
            )
            self.set_models(a, 0.1, *self.adoption(0.06, 0.08))
            prev = a
        self.legit_counts["individual"] = count

    def developers(self, count: int) -> None:
        for _ in range(count):
            c = net.pick_country(self.rng)
            home = net.residential_ip(c, self.rng)
            ips = [(home[0], home[1], c)]
            if self.rng.random() < 0.45:
                asn = int(self.rng.choice((*net.CLOUD_MAIN, 14061, 24940, 16276)))
                ips.append((net.ip_in(asn, self.rng), asn, net.CLOUD_ASNS.get(asn, "US")))
            tools = text.AGENT_TOOLS[int(self.rng.integers(len(text.AGENT_TOOLS)))] if self.rng.random() < 0.3 else ()
            prof = Profile(
                out_median=float(self.rng.uniform(300, 900)),
                max_tokens=(1024, 2048, 4096, 8192),
                temperature=(0.0, 0.2, None, 1.0),
                reasoning_p=0.08,
                tools=tools,
                tools_p=0.6 if tools else 0.0,
                rate_limit_p=0.01,
            )
            a = self.add(
                Actor(
                    self.hexid("acct_"),
                    "developer",
                    False,
                    None,
                    self.keys(0.4),
                    self.aged(20, 900),
                    "standard",
                    c,
                    self.card(),
                    ips,
                    net.pick_sdk(self.rng),
                    "dev",
                    prof,
                    org_id=self.hexid("org_", 8) if self.rng.random() < 0.3 else None,
                    sends_conv=self.rng.random() < 0.3,
                    endpoint="chat/completions" if self.rng.random() < 0.1 else "messages",
                )
            )
            tz = net.utc_offset(c)
            rate = hourly_rate(HUMAN, tz, self.days, self.weekday) + 0.1
            starts = sample_times(
                self.rng, rate, max(1, self.poisson_days(float(self.rng.lognormal(np.log(2.5), 0.6)))), self.days
            )
            t = np.sort(bursts(self.rng, starts, float(self.rng.uniform(5, 25)), float(self.rng.uniform(5, 60))))
            self.set_plan(a, t, np.arange(len(t)), np.zeros(len(t), dtype=np.int64))
            self.set_models(a, 0.25, *self.adoption(0.15, 0.15))
        self.legit_counts["developer"] = count

    def app_backends(self, count: int) -> None:
        for _ in range(count):
            app = int(self.rng.integers(len(text.APPS)))
            brand = text.BRANDS[int(self.rng.integers(len(text.BRANDS)))]
            asn = int(self.rng.choice(net.CLOUD_MAIN))
            sub = net.subnet24(asn, self.rng)
            ips = [
                (net.ip_in(asn, self.rng, sub), asn, net.CLOUD_ASNS[asn]) for _ in range(int(self.rng.integers(1, 5)))
            ]
            org = self.hexid("org_", 8)
            prof = Profile(
                out_median=float(self.rng.uniform(150, 700)),
                out_sigma=0.5,
                max_tokens=(int(self.rng.choice([1024, 2048, 4096])),),
                temperature=(float(self.rng.choice([0.0, 0.3, 0.5, 0.7])),),
                reasoning_p=0.0,
                tools=text.APPS[app][2],
                tools_p=1.0,
                rate_limit_p=0.01,
                history_tokens=250,
            )
            a = self.add(
                Actor(
                    self.hexid("acct_"),
                    "app_backend",
                    False,
                    None,
                    self.keys(0.3),
                    self.aged(60, 700),
                    "startup" if self.rng.random() < 0.3 else "standard",
                    net.CLOUD_ASNS[asn] if self.rng.random() < 0.7 else net.pick_country(self.rng),
                    self.card(),
                    ips,
                    net.pick_sdk(self.rng),
                    "app",
                    prof,
                    org_id=org,
                    sends_conv=self.rng.random() < 0.6,
                    extra={"app": app, "system": text.app_system_prompt(self.r, app, brand)},
                )
            )
            tz = float(self.rng.choice([-6.0, 0.0, 1.0, 5.5, 8.0]))
            rate = hourly_rate(APP, tz, self.days, self.weekday)
            k = max(5, self.poisson_days(float(self.rng.lognormal(np.log(400), 0.6))))
            starts = sample_times(self.rng, rate, k, self.days)
            t, conv, turn = conversations(self.rng, starts, 1.6 if app in (0, 3) else 1.0, 40.0)
            self.set_plan(a, t, conv, turn, ip=self.rng.integers(0, len(ips), size=len(t)))
            self.set_models(a, float(self.rng.choice([0.0, 0.0, 1.0, 0.5])))
        self.legit_counts["app_backend"] = count

    def university(self, classes: int) -> int:
        total = 0
        for _ in range(classes):
            uni_asn = int(self.rng.choice(list(net.UNIVERSITY_ASNS)))
            country = net.UNIVERSITY_ASNS[uni_asn]
            nat = (net.ip_in(uni_asn, self.rng), uni_asn, country)
            problems = text.homework_set(self.r, int(self.rng.integers(6, 12)))
            semester = self.start - timedelta(days=float(self.rng.uniform(25, 60)))
            size = int(self.rng.integers(20, 61))
            course = self.hexid("course_", 6)
            for _ in range(size):
                home = net.residential_ip(country, self.rng)
                prof = Profile(
                    out_median=float(self.rng.uniform(400, 900)),
                    max_tokens=(4096, 8192),
                    temperature=(None,),
                    reasoning_p=0.15,
                )
                a = self.add(
                    Actor(
                        self.hexid("acct_"),
                        "university_student",
                        False,
                        None,
                        self.keys(0.0),
                        semester + timedelta(hours=float(self.rng.exponential(30))),
                        "education",
                        country,
                        None if self.rng.random() < 0.5 else self.card(),
                        [nat, (home[0], home[1], country)],
                        net.pick_browser(self.rng),
                        "homework",
                        prof,
                        extra={"problems": problems, "course": course},
                    )
                )
                self.human_convs(a, float(self.rng.uniform(1.0, 3.5)), 2.8, 90.0, profile=CLASS, weekend=0.4)
                a.ip = np.where(self.rng.random(len(a.planned(a.t))) < 0.85, 0, 1)
                self.set_models(a, 0.0, *self.adoption(0.01, 0.03))
            total += size
        self.legit_counts["university_student"] = total
        return total

    def enterprise(self, orgs: int) -> None:
        total = 0
        for _ in range(orgs):
            asn = int(self.rng.choice(list(net.BUSINESS_ASNS)))
            country = net.BUSINESS_ASNS[asn]
            sub = net.subnet24(asn, self.rng)
            nats = [(net.ip_in(asn, self.rng, sub), asn, country) for _ in range(int(self.rng.integers(1, 3)))]
            org, card = self.hexid("org_", 8), self.card()
            tool = net.Client(
                f"{self.r.choice(('acme', 'globex', 'initech', 'umbrella', 'hooli', 'stark'))}-assistant/{self.rng.integers(1, 4)}.{self.rng.integers(0, 10)}.{self.rng.integers(0, 20)} (internal)",
                self.r.choice((net.TLS_JAVA, net.TLS_DOTNET, net.TLS_NODE)),
                False,
            )
            contract = self.aged(90, 700)
            size = int(self.rng.integers(30, 81))
            for _ in range(size):
                client = tool if self.rng.random() < 0.4 else net.pick_browser(self.rng)
                prof = Profile(
                    out_median=float(self.rng.uniform(300, 800)),
                    max_tokens=(4096, 8192),
                    temperature=(None,),
                    reasoning_p=0.03,
                )
                a = self.add(
                    Actor(
                        self.hexid("acct_"),
                        "enterprise_seat",
                        False,
                        None,
                        self.keys(0.0),
                        contract + timedelta(days=float(self.rng.uniform(0, 60))),
                        "enterprise",
                        country,
                        card,
                        nats,
                        client,
                        "work",
                        prof,
                        org_id=org,
                    )
                )
                self.human_convs(a, float(self.rng.uniform(2.5, 9)), 2.0, 120.0, profile=WORK, weekend=0.08)
                a.ip = self.rng.integers(0, len(nats), size=len(a.planned(a.t)))
                self.set_models(a, 0.05, *self.adoption(0.02, 0.05))
            total += size
        self.legit_counts["enterprise_seat"] = total

    def benchmarks(self, count: int) -> None:
        for i in range(count):
            asn = int(self.rng.choice((*net.CLOUD_MAIN, 24940)))
            ip = (net.ip_in(asn, self.rng), asn, net.CLOUD_ASNS.get(asn, "US"))
            focus = [str(f) for f in self.rng.choice(list(text.QUESTIONS), size=2, replace=False)]
            header = text.BENCH_HEADERS[int(self.rng.integers(len(text.BENCH_HEADERS)))]
            prof = Profile(
                out_median=float(self.rng.uniform(500, 1500)),
                out_sigma=0.6,
                max_tokens=(int(self.rng.choice([8192, 16384, 32000])),),
                temperature=(0.0,),
                reasoning_p=0.5 if self.rng.random() < 0.5 else 0.0,
                rate_limit_p=0.03,
            )
            a = self.add(
                Actor(
                    self.hexid("acct_"),
                    "benchmark",
                    False,
                    None,
                    self.keys(0.5),
                    self.aged(30, 500),
                    "research" if self.rng.random() < 0.6 else "standard",
                    ip[2],
                    self.card(),
                    [ip],
                    net.pick_sdk(self.rng),
                    "bench",
                    prof,
                    org_id=self.hexid("org_", 8),
                    sends_conv=False,
                    extra={"focus": focus, "header": header, "options": bool(self.rng.random() < 0.4)},
                )
            )
            starts = np.sort(self.rng.uniform(0, self.days * DAY, size=max(1, self.poisson_days(1.5))))
            t = np.sort(bursts(self.rng, starts, float(self.rng.uniform(250, 700)), float(self.rng.uniform(0.6, 3.0))))
            self.set_plan(a, t, np.arange(len(t)), np.zeros(len(t), dtype=np.int64))
            # a lab evaluates the new model as soon as it ships (a hard negative for pivot latency)
            early = i == 0 or self.rng.random() < 0.3
            self.set_models(
                a, 0.2, self.release + (float(self.rng.uniform(600, 2 * HOUR)) if early else INF), 0.8 if early else 0.0
            )
            if early and self.release < self.days * DAY:  # an eval run on the new model shortly after release
                extra = np.sort(
                    bursts(self.rng, np.array([self.release + float(self.rng.uniform(900, 2 * HOUR))]), 300, 1.5)
                )
                keep = extra < self.days * DAY
                extra = extra[keep]
                order = np.argsort(np.concatenate([a.t, extra]), kind="stable")
                a.t = np.concatenate([a.t, extra])[order]
                a.model = np.concatenate([a.model, np.full(len(extra), MODEL_NEW, dtype=np.int8)])[order]
                a.conv = np.arange(len(a.planned(a.t)))
                a.turn = np.zeros(len(a.planned(a.t)), dtype=np.int64)
                a.ip = np.zeros(len(a.planned(a.t)), dtype=np.int64)
                a.camo = np.zeros(len(a.planned(a.t)), dtype=bool)
        self.legit_counts["benchmark"] = count

    def reseller_customers(self, camp: Campaign, count: int) -> None:
        pool = camp.info["_pool"]
        for _ in range(count):
            c = net.pick_country(self.rng)
            browser = self.rng.random() < 0.6
            prof = Profile(
                out_median=float(self.rng.uniform(250, 700)), max_tokens=(2048, 4096, 8192), reasoning_p=0.04
            )
            a = self.add(
                Actor(
                    self.hexid("acct_"),
                    "reseller_customer",
                    False,
                    None,
                    self.keys(),
                    self.aged(10, 400),
                    "standard",
                    c,
                    self.card(),
                    pool,
                    net.pick_browser(self.rng) if browser else net.pick_sdk(self.rng),
                    "chat",
                    prof,
                    lang=text.COUNTRY_LANG.get(c, "en"),
                    extra={"step": 0.0, "topics": self.rng.choice(9, size=3).tolist(), "via": camp.id},
                )
            )
            self.human_convs(a, float(self.rng.lognormal(np.log(2.5), 0.7)), 3.0, 80.0)
            a.ip = self.rng.integers(0, len(pool), size=len(a.planned(a.t)))
            self.set_models(a, 0.1, *self.adoption(0.05, 0.1))
        self.legit_counts["reseller_customer"] = self.legit_counts.get("reseller_customer", 0) + count

    # ----------------------------------------------------------------------------------- campaigns
    def templates(self, kinds: dict[str, float], langs: tuple[str, ...], k: int) -> list[tuple[str, tuple]]:
        """A campaign's own small set of prompt templates, drawn from the combinatorial space; every requested
        kind and every language (for the kinds that have languages) gets at least one."""
        out: list[tuple[str, tuple]] = []
        names, w = list(kinds), np.array(list(kinds.values()))
        lang_i = int(self.rng.integers(len(langs)))
        picks = [names[int(self.rng.choice(len(names), p=w / w.sum()))] for _ in range(k)]
        picks += [n for n in names if n not in picks]
        while sum(p in ("elicit", "rubric") for p in picks) < len(langs) and any(
            n in ("elicit", "rubric") for n in names
        ):
            picks.append("elicit" if "elicit" in names else "rubric")
        for kind in picks:
            if kind in ("elicit", "rubric"):
                lang = langs[lang_i % len(langs)]
                lang_i += 1
                out.append(
                    (
                        kind,
                        text.elicit_template(self.r, lang) if kind == "elicit" else text.rubric_template(self.r, lang),
                    )
                )
            elif kind == "agent":
                out.append(
                    (
                        kind,
                        (
                            int(self.rng.integers(len(text.AGENT_SYSTEM))),
                            text.AGENT_TOOLS[int(self.rng.integers(len(text.AGENT_TOOLS)))],
                        ),
                    )
                )
            elif kind == "bench":
                out.append(
                    (
                        kind,
                        (
                            text.BENCH_HEADERS[int(self.rng.integers(len(text.BENCH_HEADERS)))],
                            bool(self.rng.random() < 0.5),
                        ),
                    )
                )
            else:
                out.append((kind, ()))
        return out

    def attack_profile(self, heavy: bool = True) -> Profile:
        return Profile(
            out_median=float(self.rng.uniform(3000, 5200)),
            out_sigma=0.35,
            max_tokens=tuple(int(x) for x in self.rng.choice([8192, 16000, 16384, 32000, 32768], size=2)),
            temperature=(float(self.rng.choice([0.6, 0.7, 1.0])),),
            reasoning_p=float(self.rng.uniform(0.6, 0.95)),
            rate_limit_p=0.04 if heavy else 0.015,
        )

    def hydra(
        self, idx: int, size: int, per_account_day: float, kinds: dict[str, float], langs: tuple[str, ...], focus: str
    ) -> Campaign:
        cid = f"hydra-{idx + 1}"
        hard, rng = self.hard, self.rng
        # proxy egress pool
        if hard:
            pool = []
            asns = list(net.HOSTING_ASNS) + [a for c in net.COUNTRY_CODES for a in net.COUNTRIES[c][1][:1]]
            for _ in range(int(rng.integers(300, 420))):
                asn = int(rng.choice(asns))
                country = net.HOSTING_ASNS.get(asn) or next(c for c in net.COUNTRY_CODES if asn in net.COUNTRIES[c][1])
                pool.append((net.ip_in(asn, rng), asn, country))
        else:
            pool, size_pool, n_subnets = [], int(rng.integers(20, 61)), int(rng.integers(2, 5))
            subnets = []
            for _ in range(n_subnets):
                asn = int(rng.choice(list(net.HOSTING_ASNS)))
                subnets.append((asn, net.subnet24(asn, rng)))
            while len(pool) < size_pool:
                asn, sub = subnets[len(pool) % n_subnets]
                ip = (net.ip_in(asn, rng, sub), asn, net.HOSTING_ASNS[asn])
                if ip not in pool:
                    pool.append(ip)
        cards = [self.card() for _ in range(max(2, min(int(rng.integers(4, 9)), size // 4)))]
        card_countries = [str(rng.choice(["US", "BR", "IN", "NG", "ID", "VN", "PH", "TR"])) for _ in cards]
        n_clients = int(rng.integers(2, 4)) if hard else 1
        clients = [net.PROXY_CLIENTS[int(i)] for i in rng.choice(len(net.PROXY_CLIENTS), size=n_clients, replace=False)]
        created0 = self.start - timedelta(days=float(rng.uniform(3, 12)))
        spread_h = float(rng.uniform(96, 168)) if hard else float(rng.uniform(2, 8))
        paths = ["education", "startup", "research"]
        main_path = paths[idx % 3]
        prof = self.attack_profile()
        tmpl = self.templates(kinds, langs, int(rng.integers(3, 7)))
        endpoint = "chat/completions" if rng.random() < 0.3 else "messages"
        conv_ids = bool(rng.random() < 0.5)  # some proxies stamp a fresh conversation on every request
        members = []
        for j in range(size):
            card_i = int(rng.integers(len(cards)))
            verification = main_path if (not hard and rng.random() < 0.8) else paths[int(rng.integers(3))]
            a = self.add(
                Actor(
                    self.hexid("acct_"),
                    "hydra",
                    True,
                    cid,
                    self.keys(0.0),
                    created0 + timedelta(hours=float(rng.uniform(0, spread_h))),
                    verification,
                    card_countries[card_i] if not hard else str(rng.choice(["US", "BR", "IN", "NG", "ID", "GB", "DE"])),
                    self.card() if hard else cards[card_i],
                    pool,
                    clients[j % n_clients],
                    "attack",
                    prof,
                    sends_conv=conv_ids,
                    endpoint=endpoint,
                    extra={"templates": tmpl, "focus": focus},
                )
            )
            members.append(a)
        # one job stream, load-balanced across the accounts
        n_jobs = self.poisson_days(size * per_account_day)
        jobs = job_stream(rng, n_jobs, self.days)
        window = self.days * DAY
        active_from, active_to = np.zeros(size), np.full(size, np.inf)
        late = rng.random(size) < 0.1  # replacements rotated in during the day, created shortly before
        active_from[late] = rng.uniform(2 * HOUR, 0.85 * window, size=int(late.sum()))
        burnt = ~late & (rng.random(size) < 0.05)  # accounts the proxy stops using (banned, exhausted)
        active_to[burnt] = rng.uniform(4 * HOUR, window, size=int(burnt.sum()))
        for r in np.flatnonzero(late):
            members[r].created_at = self.start + timedelta(
                seconds=float(active_from[r] - rng.uniform(0.5 * HOUR, 30 * HOUR))
            )
        who = round_robin(rng, jobs, active_from, active_to, jitter=hard)
        if hard:
            jobs = jobs + rng.normal(0, 900, size=len(jobs))
            jobs = np.clip(jobs, 0, self.days * DAY - 1)
        ip_idx = rng.integers(0, len(pool), size=len(jobs)) if hard else np.arange(len(jobs)) % len(pool)
        pivot = self.release + float(rng.uniform(1 * HOUR, 3 * HOUR))
        camo_p = 0.06 if hard else 0.0  # jobs replaced by ~3-turn chats: ~15% of the events
        for j, a in enumerate(members):
            sel = who == j
            t, ipj = jobs[sel], ip_idx[sel]
            order = np.argsort(t, kind="stable")
            t, ipj = t[order], ipj[order]
            camo = rng.random(len(t)) < camo_p
            if camo.any():  # camouflage: an ordinary multi-turn chat instead of a harvesting job
                ct, cconv, cturn = conversations(rng, t[camo], 3.0, 60.0)
                t2 = np.concatenate([t[~camo], ct])
                conv = np.concatenate([np.arange((~camo).sum()), (~camo).sum() + cconv])
                turn = np.concatenate([np.zeros((~camo).sum(), dtype=np.int64), cturn])
                ip2 = np.concatenate([ipj[~camo], ipj[camo][cconv]])
                cm = np.concatenate([np.zeros((~camo).sum(), dtype=bool), np.ones(len(ct), dtype=bool)])
                o = np.argsort(t2, kind="stable")
                self.set_plan(a, t2[o], conv[o], turn[o], ip2[o], cm[o])
            else:
                self.set_plan(a, t, np.arange(len(t)), np.zeros(len(t), dtype=np.int64), ipj)
            self.set_models(a, 0.0, pivot, 0.88)
        info = {
            "late_joins": int(late.sum()),
            "retired": int(burnt.sum()),
            "proxy_pool_size": len(pool),
            "proxy_asns": sorted({p[1] for p in pool}),
            "payment_fingerprints": len({m.payment for m in members}),
            "clients": [c.user_agent for c in clients],
            "created_from": created0.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "created_spread_hours": round(spread_h, 1),
            "pivot_at": (self.start + timedelta(seconds=pivot)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "templates": len(tmpl),
            "template_kinds": sorted({t[0] for t in tmpl}),
            "languages": list(langs),
            "_pool": pool,
        }
        camp = Campaign(cid, "hydra", focus, members, info)
        self.campaigns.append(camp)
        return camp

    def low_and_slow(
        self, idx: int, size: int, kinds: dict[str, float], langs: tuple[str, ...], focus: str
    ) -> Campaign:
        cid = f"low-slow-{idx + 1}"
        rng = self.rng
        prof = self.attack_profile(heavy=False)
        tmpl = self.templates(kinds, langs, int(rng.integers(3, 6)))
        members = []
        for _ in range(size):
            c = str(rng.choice(["US", "GB", "DE", "IN", "BR", "CA", "FR"]))
            home = net.residential_ip(c, rng)
            client = net.pick_browser(rng) if rng.random() < 0.5 else net.pick_sdk(rng)
            a = self.add(
                Actor(
                    self.hexid("acct_"),
                    "low_and_slow",
                    True,
                    cid,
                    self.keys(),
                    self.aged(30, 400),
                    "standard",
                    c,
                    self.card(),
                    [(home[0], home[1], c)],
                    client,
                    "attack",
                    prof,
                    sends_conv=rng.random() < 0.5,
                    extra={"templates": tmpl, "focus": focus},
                )
            )
            self.human_convs(a, float(rng.uniform(12, 30)), 1.0, 60.0)
            if self.hard:
                self.camouflage(a, max(1, round(len(a.planned(a.t)) * 0.06)))
            self.set_models(a, 0.0, self.release + float(rng.uniform(2 * HOUR, 8 * HOUR)), 0.6)
            members.append(a)
        camp = Campaign(
            cid,
            "low_and_slow",
            focus,
            members,
            {
                "proxy_pool_size": 0,
                "payment_fingerprints": size,
                "templates": len(tmpl),
                "template_kinds": sorted({t[0] for t in tmpl}),
                "languages": list(langs),
            },
        )
        self.campaigns.append(camp)
        return camp

    def lone_harvester(self, idx: int, per_day: float) -> Campaign:
        cid = f"lone-{idx + 1}"
        rng = self.rng
        c = str(rng.choice(["US", "SG", "DE", "KR"]))
        asn = int(rng.choice(net.CLOUD_MAIN))
        prof = self.attack_profile()
        tmpl = self.templates({"elicit": 1.0}, ("en",), 3)
        a = self.add(
            Actor(
                self.hexid("acct_"),
                "lone_harvester",
                True,
                cid,
                self.keys(),
                self.aged(5, 120),
                "standard",
                c,
                self.card(),
                [(net.ip_in(asn, rng), asn, net.CLOUD_ASNS[asn])],
                net.pick_sdk(rng),
                "attack",
                prof,
                sends_conv=False,
                extra={"templates": tmpl, "focus": "math"},
            )
        )
        t = job_stream(rng, max(50, self.poisson_days(per_day)), self.days)
        self.set_plan(a, t, np.arange(len(t)), np.zeros(len(t), dtype=np.int64))
        if self.hard:
            self.camouflage(a, max(1, round(len(a.planned(a.t)) * 0.06)))
        self.set_models(a, 0.0, self.release + float(rng.uniform(0.5 * HOUR, 4 * HOUR)), 0.9)
        camp = Campaign(
            cid,
            "lone_harvester",
            "math",
            [a],
            {
                "proxy_pool_size": 0,
                "payment_fingerprints": 1,
                "templates": len(tmpl),
                "template_kinds": ["elicit"],
                "languages": ["en"],
            },
        )
        self.campaigns.append(camp)
        return camp

    # ----------------------------------------------------------------------------------------- all
    def build(self) -> None:
        """The full population at this scale (every kind present at small scales)."""
        self.individuals(self.n(2400, 30))
        self.developers(self.n(480, 8))
        self.app_backends(self.n(200, 4))
        self.university(self.n(6, 1))
        self.enterprise(self.n(4, 1))
        self.benchmarks(self.n(6, 2))
        if self.scenario in CLASSIC_SCENARIOS:
            self.classic_campaigns()

    def classic_campaigns(self) -> None:
        """Hydra proxies with their reseller customers, low-and-slow rings and lone harvesters."""
        hydras = [
            self.hydra(
                0,
                self.n(400, 20),
                float(self.rng.uniform(30, 50)),
                {"elicit": 0.6, "rubric": 0.25, "bench": 0.15},
                ("en", "zh"),
                "math",
            ),
            self.hydra(
                1, self.n(150, 12), float(self.rng.uniform(25, 45)), {"agent": 0.7, "elicit": 0.3}, ("en",), "code"
            ),
            self.hydra(
                2,
                self.n(40, 8),
                float(self.rng.uniform(30, 60)),
                {"elicit": 0.7, "rewrite": 0.3},
                ("es", "de", "fr", "ru", "ja", "en"),
                "science",
            ),
        ]
        share = 0.6 if self.hard else 0.2
        for h in hydras:
            self.reseller_customers(h, max(3, round(len(h.members) * share)))
        self.low_and_slow(0, self.n(30, 6), {"elicit": 0.8, "bench": 0.2}, ("en",), "logic")
        self.low_and_slow(1, self.n(25, 5), {"rubric": 0.6, "elicit": 0.4}, ("en", "zh"), "arith")
        for i in range(self.n(1, 1)):
            self.lone_harvester(i, float(self.rng.uniform(1500, 3000)) * min(1.0, max(self.scale, 0.3)))
