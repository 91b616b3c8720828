"""Adaptive distillation campaigns: what operators run after a takedown.

Every member is an aged account bought on its own (its own card, API key and home address in its own
country, created months before at no particular time), sends through an official SDK or an ordinary browser,
keeps human hours in its local time zone, mixes ordinary chats in and stays at an ordinary volume. Prompts
are plain curriculum questions or coding tasks put in varied words; reasoning is asked for with the API's
``reasoning_requested`` parameter, never in text. The operator knows the detector's cue phrases and
re-draws any prompt that contains one. :class:`EvasiveKnobs` holds every setting of a variant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from distillguard.detector.signals import TEXT, text_flags
from distillguard.detector.simulate import curriculum, text
from distillguard.detector.simulate import network as net
from distillguard.detector.simulate.population import Actor, Builder, Campaign, Profile
from distillguard.detector.simulate.timing import EVENING, HUMAN, WORK, hourly_rate, sessions
from distillguard.detector.units import HOUR

# What each pacing means: (activity by local hour, weekend factor).
PACING: dict[str, tuple[np.ndarray, float]] = {"human": (HUMAN, 1.0), "work": (WORK, 0.15), "evening": (EVENING, 1.4)}
TURN_GAP_S = {"curriculum": 150.0, "coding": 20.0}  # median gap between turns: reading an answer, a tool loop
CLIENTS = ("sdk", "browser", "mixed")
ORDINARY_MAX_TOKENS = (4096, 8192)  # what browser users and most SDK users send: a higher limit stands out


@dataclass(frozen=True)
class EvasiveKnobs:
    """The operator's settings of one adaptive campaign."""

    accounts: int  # members at scale 1 (the evasive scenario; the hard one mixes in HARD_SHARE of them)
    requests_per_day: float  # mean requests per account and day, dilution included (lognormal per account)
    reasoning_share: float  # harvesting requests sent with reasoning_requested
    dilution_share: float  # requests that are ordinary multi-turn chats
    max_tokens: tuple[int, ...]  # max_tokens values the client sends
    output_tokens: float  # median answer length the prompts draw out (x1.6 with reasoning)
    follow_up_share: float  # chance a harvesting conversation goes on ('continue', the next question, a tool result)
    paraphrase: str  # how a question is put: one of curriculum.PARAPHRASES
    harvest: str  # "curriculum" (questions of ``subjects``) or "coding" (coding sessions with tools)
    subjects: tuple[str, ...]  # curriculum subjects asked about (curriculum.SUBJECTS keys)
    pacing: str  # local-time activity profile: a PACING key
    clients: str  # "sdk" (official SDKs), "browser" or "mixed"
    question_bank: int = 0  # questions the campaign asks again and again in other words (0: always new ones)
    volume_sigma: float = 0.4  # lognormal spread of the per-account volume
    new_model_share: float = 0.6  # conversations on a newly released model once taken up (0: stays on the old ones)

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("paraphrase", self.paraphrase, curriculum.PARAPHRASES),
            ("harvest", self.harvest, tuple(TURN_GAP_S)),
            ("pacing", self.pacing, tuple(PACING)),
            ("clients", self.clients, CLIENTS),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if not set(self.subjects) <= set(curriculum.SUBJECTS):
            raise ValueError(f"unknown subjects: {sorted(set(self.subjects) - set(curriculum.SUBJECTS))}")
        if not 0 <= self.follow_up_share < 1:
            raise ValueError(f"follow_up_share must be within [0, 1), got {self.follow_up_share}")


VARIANTS: dict[str, EvasiveKnobs] = {
    "evasive_reasoning": EvasiveKnobs(
        accounts=100,
        requests_per_day=30.0,
        reasoning_share=0.85,
        dilution_share=0.15,
        max_tokens=ORDINARY_MAX_TOKENS,
        output_tokens=1800.0,
        follow_up_share=0.1,
        paraphrase="wrap",
        harvest="curriculum",
        subjects=curriculum.STEM,
        pacing="human",
        clients="sdk",
    ),
    "evasive_agentic": EvasiveKnobs(
        accounts=100,
        requests_per_day=40.0,
        reasoning_share=0.4,
        dilution_share=0.1,
        max_tokens=ORDINARY_MAX_TOKENS,
        output_tokens=1200.0,
        follow_up_share=0.6,
        paraphrase="wrap",
        harvest="coding",
        subjects=("computing",),
        pacing="work",
        clients="sdk",
        new_model_share=0.0,
    ),
    "evasive_paraphrase": EvasiveKnobs(
        accounts=100,
        requests_per_day=25.0,
        reasoning_share=0.0,
        dilution_share=0.3,
        max_tokens=ORDINARY_MAX_TOKENS,
        output_tokens=1500.0,
        follow_up_share=0.05,
        paraphrase="multilingual",
        harvest="curriculum",
        subjects=tuple(curriculum.SUBJECTS),
        pacing="human",
        clients="mixed",
        question_bank=400,
        new_model_share=0.0,
    ),
    "evasive_slowdrip": EvasiveKnobs(
        accounts=100,
        requests_per_day=6.0,
        reasoning_share=0.6,
        dilution_share=0.5,
        max_tokens=ORDINARY_MAX_TOKENS,
        output_tokens=1500.0,
        follow_up_share=0.3,
        paraphrase="chatty",
        harvest="curriculum",
        subjects=tuple(curriculum.SUBJECTS),
        pacing="evening",
        clients="browser",
    ),
}

HARD_SHARE = 0.3  # the hard scenario mixes in this share of each variant's accounts
SCENARIO_SHARE = {"evasive": 1.0, "hard": HARD_SHARE}
MIN_ACCOUNTS = 5  # a variant's floor at small scales
AGE_DAYS = (30.0, 545.0)  # bought aged: created 1-18 months before the window
STANDARD_PATH_SHARE = 0.9  # verification paths: mostly standard, a few of the others
OTHER_PATHS = ("education", "startup")
MOBILE_SHARE = 0.35  # members that also send from a phone on mobile data
CONV_ID_SHARE = 0.7  # members whose client sends conversation ids
CHAT_GO_ON, CHAT_GAP_S = 2 / 3, 60.0  # a dilution chat goes on after a turn (3 turns on average), a minute apart
ADOPT_AFTER_H = (4.0, 20.0)  # the new model is taken up like an ordinary user would, hours after release
MINI_SHARE = 0.05
TEMPERATURES = (None, None, 0.7, 1.0, 0.2)  # one per account, as a client's settings; browsers send none
OUTPUT_JITTER = (0.8, 1.25)  # per-account spread of the output length target
OUTPUT_SIGMA = 0.5  # lognormal spread of one account's answer lengths
MIXED_SDK_SHARE = 0.5  # members of a "mixed" campaign on an SDK (the others in a browser)
LOCAL_LANGUAGE_SHARE = 0.5  # members whose dilution chats are in their country's language
CHAT_TOPICS = 3  # everyday topics a member's dilution chats are about
HISTORY_TOKENS = 1500  # input tokens a follow-up carries per earlier turn (long answers)
CODING_SYSTEM = "You are a helpful coding assistant."
CODING_SYSTEM_SHARE = 0.5  # coding members that send the common one-line system prompt
MAX_REDRAWS = 200  # prompts drawn until one carries no cue phrase (a bank that fails this often is a bug)


def populate(b: Builder, requests: float | None) -> None:
    """Add the variants the scenario mixes in; ``requests`` overrides every variant's mean requests per
    account over the whole window."""
    share = SCENARIO_SHARE.get(b.scenario)
    if share is None:
        return
    for kind, knobs in VARIANTS.items():
        mean = requests if requests is not None else knobs.requests_per_day * b.days
        campaign(b, kind, knobs, b.n(knobs.accounts * share, MIN_ACCOUNTS), mean)


def campaign(b: Builder, kind: str, knobs: EvasiveKnobs, size: int, requests: float) -> None:
    """One adaptive campaign of ``size`` accounts averaging ``requests`` requests each over the window."""
    cid = kind.replace("_", "-")
    used: set[str] = set()
    bank = [_cue_free(lambda: curriculum.question(b.r, knobs.subjects)) for _ in range(knobs.question_bank)]
    members = [_member(b, kind, cid, knobs, used, bank) for _ in range(size)]
    for a in members:
        _plan(b, a, knobs, requests)
    info = {"requests_per_account": round(requests, 2), "knobs": asdict(knobs)}
    b.campaigns.append(Campaign(cid, kind, knobs.harvest, members, info))


def _own_ip(b: Builder, country: str, used: set[str]) -> tuple[str, int, str]:
    """A residential address in ``country`` that no other member of the campaign uses."""
    while True:
        ip, asn = net.residential_ip(country, b.rng)
        if ip not in used:
            used.add(ip)
            return ip, asn, country


def _client(b: Builder, clients: str) -> net.Client:
    if clients == "sdk" or (clients == "mixed" and b.rng.random() < MIXED_SDK_SHARE):
        return net.pick_official_sdk(b.rng)
    return net.pick_browser(b.rng)


def _member(b: Builder, kind: str, cid: str, knobs: EvasiveKnobs, used: set[str], bank: list[str]) -> Actor:
    """An aged account bought on its own: own card, key, address and ordinary client."""
    rng = b.rng
    country = net.pick_country(rng)
    ips = [_own_ip(b, country, used)]
    if rng.random() < MOBILE_SHARE:
        ips.append(_own_ip(b, country, used))
    tools = text.AGENT_TOOLS[int(rng.integers(len(text.AGENT_TOOLS)))] if knobs.harvest == "coding" else ()
    client = _client(b, knobs.clients)
    temperature = None if client.browser else TEMPERATURES[int(rng.integers(len(TEMPERATURES)))]
    prof = Profile(
        out_median=knobs.output_tokens * float(rng.uniform(*OUTPUT_JITTER)),
        out_sigma=OUTPUT_SIGMA,
        max_tokens=knobs.max_tokens,
        temperature=(temperature,),
        reasoning_p=knobs.reasoning_share,
        tools=tools,
        history_tokens=HISTORY_TOKENS,
    )
    standard = rng.random() < STANDARD_PATH_SHARE
    return b.add(
        Actor(
            b.hexid("acct_"),
            kind,
            True,
            cid,
            b.keys(),
            b.aged(*AGE_DAYS),
            "standard" if standard else str(rng.choice(OTHER_PATHS)),
            country,
            b.card(),
            ips,
            client,
            "evasive",
            prof,
            lang=text.COUNTRY_LANG.get(country, "en") if rng.random() < LOCAL_LANGUAGE_SHARE else "en",
            sends_conv=bool(rng.random() < CONV_ID_SHARE),
            extra={
                "knobs": knobs,
                "bank": bank,
                "topics": rng.choice(len(text.TOPICS), size=CHAT_TOPICS).tolist(),
                "system": CODING_SYSTEM if tools and rng.random() < CODING_SYSTEM_SHARE else None,
            },
        )
    )


def _plan(b: Builder, a: Actor, knobs: EvasiveKnobs, requests: float) -> None:
    """Harvesting conversations at the pacing's local hours with dilution chats mixed in (``requests`` on
    average, lognormal per account), and the new model taken up later."""
    rng = b.rng
    sigma = knobs.volume_sigma
    total = max(1, round(float(rng.lognormal(np.log(requests) - sigma**2 / 2, sigma))))  # mean ``requests``
    chats = int(rng.binomial(total, knobs.dilution_share))
    profile, weekend = PACING[knobs.pacing]
    rate = hourly_rate(profile, net.local_offset(a.billing_country or "US", rng), b.days, b.weekday, weekend)
    gap = TURN_GAP_S[knobs.harvest]
    ht, hconv, hturn = sessions(rng, rate, total - chats, knobs.follow_up_share, gap, b.days)
    ct, cconv, cturn = sessions(rng, rate, chats, CHAT_GO_ON, CHAT_GAP_S, b.days)
    t = np.concatenate([ht, ct])
    o = np.argsort(t, kind="stable")
    conv = np.concatenate([hconv, len(ht) + cconv])
    camo = np.concatenate([np.zeros(len(ht), dtype=bool), np.ones(len(ct), dtype=bool)])
    b.set_plan(a, t[o], conv[o], np.concatenate([hturn, cturn])[o], camo=camo[o])
    b.set_models(a, MINI_SHARE, b.release + float(rng.uniform(*ADOPT_AFTER_H)) * HOUR, knobs.new_model_share)


def request(r: text.Rnd, a: Actor, conv: int, turn: int, camo: bool) -> tuple[str, str | None, list[str]]:
    """(prompt, system prompt, tools) of one request of an adaptive member: a harvesting turn, or a dilution
    chat when ``camo``; re-drawn until the prompt holds none of the detector's cue phrases."""
    knobs: EvasiveKnobs = a.extra["knobs"]
    coding = knobs.harvest == "coding" and not camo
    system = a.extra["system"] if coding else None
    tools = list(a.profile.tools) if coding else []
    return _cue_free(lambda: _prompt(r, a, knobs, conv, turn, camo)), system, tools


def _cue_free(draw: Callable[[], str]) -> str:
    """The first of ``draw()``'s texts that holds none of the detector's cue phrases."""
    for _ in range(MAX_REDRAWS):
        prompt = draw()
        if text_flags(prompt) == TEXT:
            return prompt
    raise RuntimeError(f"no cue-free text in {MAX_REDRAWS} draws")


def _prompt(r: text.Rnd, a: Actor, knobs: EvasiveKnobs, conv: int, turn: int, camo: bool) -> str:
    if camo:  # one topic per chat, as an individual's
        topics = a.extra["topics"]
        return text.legit_prompt(r, topics[conv % len(topics)], turn, a.lang)
    if knobs.harvest == "coding":
        return curriculum.coding_turn(r, turn)
    if turn > 0:
        return curriculum.next_one(r, knobs.subjects)
    bank = a.extra["bank"]
    question = bank[int(r.random() * len(bank))] if bank else curriculum.question(r, knobs.subjects)
    return curriculum.phrase(r, question, knobs.paraphrase)
