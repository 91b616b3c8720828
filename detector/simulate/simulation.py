"""A simulated day of API traffic: plan every account's schedule as compact arrays, sort once, then
materialise events in time order (streaming: only the arrays are held, never the event dicts)."""

from __future__ import annotations

import gzip
import json
import random
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import numpy as np

from distillguard.detector.simulate import adaptive, lookalikes, text
from distillguard.detector.simulate.population import MODEL_MINI, MODEL_NEW, MODEL_OLD, Actor, Builder
from distillguard.detector.units import DAY, HOUR

SCENARIOS = ("standard", "hard", "evasive")
DEFAULT_START = datetime(2026, 3, 2, tzinfo=UTC)
RELEASE_AFTER = 9 * HOUR
# The shortest window: hydras rotate replacement accounts in from 2 h and retire burnt ones from 4 h on.
MIN_DAYS = 0.25
MODELS = {MODEL_OLD: "frontier-4", MODEL_MINI: "frontier-4-mini", MODEL_NEW: "frontier-5"}
MODEL_SPEED = {MODEL_OLD: 70.0, MODEL_MINI: 160.0, MODEL_NEW: 55.0}  # output tokens per second
DUPLICATE_RATE = 0.001
CAMO_OUT_MEDIAN, CAMO_MAX_TOKENS = 400.0, 4096  # a camouflage chat's answers
ROW_REQUEST, ROW_RETRY, ROW_REPLAY = 0, 1, 2


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S") + "Z"


def _uuid(r: random.Random) -> str:
    h = f"{r.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class Params:
    seed: int
    scale: float = 1.0
    scenario: str = "standard"
    redact: float = 0.0
    days: float = 1.0
    evasive_requests: float | None = None  # mean requests per adaptive account over the window (None: the variants')

    def check(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"scale must be > 0, got {self.scale}")
        if not 0.0 <= self.redact <= 1.0:
            raise ValueError(f"redact must be within [0, 1], got {self.redact}")
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, got {self.scenario!r}")
        if not self.days >= MIN_DAYS:
            raise ValueError(
                f"days must be >= {MIN_DAYS:g} (the campaigns' plans need {MIN_DAYS * DAY / HOUR:g} hours), got {self.days}"
            )
        if self.evasive_requests is not None and not self.evasive_requests > 0:
            raise ValueError(f"evasive-requests must be > 0, got {self.evasive_requests}")


class Simulation:
    """One simulated window. ``events()`` yields api-event/v1 dicts in strict time order; ``labels`` maps every
    account to its ground truth; ``manifest`` describes the run (its event counts are final after ``events()``)."""

    def __init__(
        self,
        *,
        seed: int,
        scale: float = 1.0,
        scenario: str = "standard",
        redact: float = 0.0,
        days: float = 1.0,
        evasive_requests: float | None = None,
        start: datetime = DEFAULT_START,
    ):
        self.params = Params(seed, scale, scenario, redact, days, evasive_requests)
        self.params.check()
        self.start = start
        self.release = RELEASE_AFTER
        b = Builder(seed, scale, scenario, days, start, self.release)
        b.build()
        lookalikes.populate(b)
        adaptive.populate(b, evasive_requests)
        self.actors: list[Actor] = [a for a in b.actors if len(a.planned(a.t))]
        for a in self.actors:
            a.extra["created"] = _iso(a.created_at)
        self.campaigns = b.campaigns
        self._plan(np.random.default_rng([seed, 0xD0B]))
        self.labels = {a.account_id: {"attack": a.attack, "campaign": a.campaign, "kind": a.kind} for a in self.actors}
        self.manifest = self._manifest(b)

    # --------------------------------------------------------------------------------------- planning
    def _plan(self, rng: np.random.Generator) -> None:
        """Rows to materialise, in time order: every planned request, a retry after each rate-limited one
        (SDKs back off for seconds, people press retry later) and the gateway's replays."""
        sizes = np.array([len(a.planned(a.t)) for a in self.actors])
        actor = np.repeat(np.arange(len(self.actors), dtype=np.int32), sizes)
        t = np.concatenate([a.t for a in self.actors])
        n = len(t)
        limited = np.flatnonzero(rng.random(n) < np.array([a.profile.rate_limit_p for a in self.actors])[actor])
        scripted = np.array([not a.client.browser for a in self.actors])[actor[limited]]
        retry_t = t[limited] + np.where(
            scripted, rng.uniform(0.5, 8.0, len(limited)), rng.uniform(5.0, 60.0, len(limited))
        )
        dup_src = np.flatnonzero(rng.random(n) < DUPLICATE_RATE)
        dup_t = t[dup_src] + rng.uniform(1.0, 25.0, size=len(dup_src))
        ms = np.round(np.concatenate([t, retry_t, dup_t]) * 1000).astype(np.int64)
        slot = np.concatenate([np.arange(n), limited, dup_src])  # which planned request each row materialises
        kind = np.concatenate(
            [np.full(n, ROW_REQUEST), np.full(len(limited), ROW_RETRY), np.full(len(dup_src), ROW_REPLAY)]
        ).astype(np.int8)
        order = np.lexsort((kind, slot, ms))
        ms = ms[order]
        ms = np.maximum.accumulate(ms - np.arange(len(ms))) + np.arange(len(ms))  # strictly increasing
        self._ms, self._slot, self._kind = ms, slot[order], kind[order]
        self._actor = actor
        self._limited = set(limited.tolist())
        self._needs_copy = set(dup_src.tolist())
        self.n_requests = n
        self.n_retries = len(limited)
        self.n_duplicates = len(dup_src)

    # ----------------------------------------------------------------------------------- materialising
    def events(self, progress: Callable[[int], None] | None = None) -> Iterator[dict]:
        """Yield every event (retries and replays included) in strictly increasing ``ts`` order."""
        seed = self.params.seed
        r = random.Random(seed * 1_000_003 + 11)  # content
        rr = random.Random(seed * 1_000_033 + 29)  # redaction (independent: same events at any --redact)
        redact = self.params.redact
        epoch = self.start.timestamp()
        copies: dict[int, dict] = {}
        retries: dict[int, dict] = {}
        last_sec, prefix = -1, ""
        actors = self.actors
        conv_salt = r.getrandbits(32)
        cat = {f: np.concatenate([getattr(a, f) for a in actors]) for f in ("conv", "turn", "model", "ip", "camo")}
        i = 0
        for lo in range(0, len(self._ms), 1 << 16):
            rows = slice(lo, lo + (1 << 16))
            slots = self._slot[rows]
            cols = [
                self._ms[rows].tolist(),
                slots.tolist(),
                self._kind[rows].tolist(),
                self._actor[slots].tolist(),
                *(cat[f][slots].tolist() for f in ("conv", "turn", "model", "ip", "camo")),
            ]
            for ms, slot, kind, ai, conv, turn, model, ip, camo in zip(*cols, strict=True):
                sec = ms // 1000
                if sec != last_sec:
                    last_sec, prefix = sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch + sec))
                ts = f"{prefix}.{ms % 1000:03d}Z"
                if kind == ROW_REPLAY:
                    ev = dict(copies.pop(slot))
                    ev["ts"] = ts
                elif kind == ROW_RETRY:
                    ev = retries.pop(slot)
                    ev["ts"], ev["event_id"] = ts, _uuid(r)
                else:
                    ev = self._event(r, actors[ai], conv, turn, model, ip, camo, ts, conv_salt)
                    if redact and (redact >= 1.0 or rr.random() < redact):
                        ev["prompt"] = None
                        ev["system_prompt"] = None
                    if slot in self._limited:
                        retries[slot] = dict(ev)
                        ev.update(
                            status=429,
                            input_tokens=0,
                            output_tokens=0,
                            stop_reason=None,
                            latency_ms=int(r.uniform(15, 250)),
                        )
                    if slot in self._needs_copy:
                        copies[slot] = ev
                yield ev
                i += 1
                if progress is not None and not i & 8191:
                    progress(i)
        if progress is not None:
            progress(len(self._ms))

    def _event(
        self,
        r: random.Random,
        a: Actor,
        conv: int,
        turn: int,
        model_code: int,
        ip_i: int,
        camo: bool,
        ts: str,
        salt: int,
    ) -> dict:
        """Materialise one planned request of account ``a`` (conversation, turn, model, egress and camouflage are planned)."""
        prof = a.profile
        ip, asn, ip_country = a.ips[ip_i]
        system: str | None = None
        tools: list[str] = []
        reasoning = r.random() < prof.reasoning_p
        content = "chat" if camo else a.content
        max_tokens = prof.max_tokens[int(r.random() * len(prof.max_tokens))]
        out_median = prof.out_median
        stop, kind = None, content
        if a.content == "evasive":
            prompt, system, tools = adaptive.request(r, a, conv, turn, camo)
        elif content == "chat":
            topics = a.extra.get("topics") or [int(r.random() * 9)]
            topic = topics[(conv * 7 + 3) % len(topics)]
            prompt = text.legit_prompt(r, topic, turn, a.lang, r.random() < a.extra.get("step", 0.0))
        elif content in lookalikes.CONTENT:
            prompt, system, tools = lookalikes.CONTENT[content](r, a, turn)
        elif content == "dev":
            prompt = text.q_code(r) if r.random() < 0.3 else text.legit_prompt(r, 0, 0)
            if prof.tools and r.random() < prof.tools_p:
                tools = list(prof.tools)
                system = (
                    text.AGENT_SYSTEM[int(r.random() * len(text.AGENT_SYSTEM))]
                    if r.random() < 0.3
                    else "You are a helpful coding assistant."
                )
        elif content == "app":
            system, tools = a.extra["system"], list(prof.tools)
            prompt = text.app_prompt(r, a.extra["app"]) if turn == 0 else text.app_follow_up(r)
        elif content == "homework":
            prompt = text.homework_prompt(r, a.extra["problems"], turn)
            reasoning = reasoning or (turn == 0 and r.random() < 0.2)
        elif content == "work":
            prompt = text.work_prompt(r, turn)
        elif content == "bench":
            prompt = text.bench_prompt(r, a.extra["header"], a.extra["focus"][int(r.random() * 2)], a.extra["options"])
        else:  # attack
            kind, tmpl = a.extra["templates"][int(r.random() * len(a.extra["templates"]))]
            focus = a.extra["focus"]
            if kind == "elicit":
                prompt = text.elicit_prompt(r, tmpl, focus)
            elif kind == "rubric":
                prompt = text.rubric_prompt(r, tmpl, focus)
                out_median *= 0.5
            elif kind == "agent":
                system, tools = text.AGENT_SYSTEM[tmpl[0]], list(tmpl[1])
                prompt = text.agent_prompt(r, tmpl[1])
            elif kind == "bench":
                prompt = text.bench_prompt(r, tmpl[0], focus, tmpl[1])
            else:
                prompt = text.rewrite_prompt(r, tmpl, focus)
            reasoning = r.random() < prof.reasoning_p
        if camo:
            out_median, max_tokens, reasoning = CAMO_OUT_MEDIAN, CAMO_MAX_TOKENS, False
        # tokens
        in_tok = (
            (len(prompt.encode()) + 3) // 4
            + (len(system.encode()) // 4 if system else 0)
            + turn * prof.history_tokens
            + 8 * len(tools)
        )
        in_tok = max(1, int(in_tok * (0.9 + 0.2 * r.random())))
        want = int(r.lognormvariate(0.0, prof.out_sigma) * out_median * (1.6 if reasoning else 1.0)) + 1
        u = r.random()
        status = 200 if u >= 0.005 else 400 if u < 0.003 else 500 if r.random() < 0.7 else 529
        if status != 200:
            out_tok, stop = 0, "error" if status >= 500 else None
            latency = int(r.uniform(15, 250) if status == 400 else r.uniform(500, 30000))
        else:
            stop = "end_turn"
            if tools and r.random() < (0.75 if content == "attack" else 0.35):
                stop, want = "tool_use", max(20, want // 4)
            elif kind == "rewrite" and r.random() < 0.35:
                stop, want = "refusal", int(r.uniform(20, 120))
            out_tok = min(want, max_tokens)
            if want >= max_tokens:
                stop = "max_tokens"
            latency = int(300 + 1000 * out_tok / MODEL_SPEED[model_code] * (0.8 + 0.4 * r.random()) + in_tok * 0.05)
        conv_id = turn_idx = None
        if a.sends_conv or camo:
            conv_id = f"conv_{zlib.crc32(a.account_id.encode()) ^ salt:08x}{conv:05x}"
            turn_idx = turn
        temp = prof.temperature[int(r.random() * len(prof.temperature))]
        return {
            "schema_version": 1,
            "event_id": _uuid(r),
            "ts": ts,
            "account_id": a.account_id,
            "org_id": a.org_id,
            "api_key_id": a.api_keys[0] if len(a.api_keys) == 1 or r.random() < 0.7 else a.api_keys[1],
            "account_created_at": a.extra["created"],
            "verification_path": a.verification,
            "billing_country": a.billing_country,
            "payment_fingerprint": a.payment,
            "ip": ip,
            "asn": asn,
            "ip_country": ip_country,
            "user_agent": a.client.user_agent,
            "tls_fingerprint": a.client.tls,
            "model": MODELS[model_code],
            "endpoint": a.endpoint,
            "conversation_id": conv_id,
            "turn_index": turn_idx,
            "system_prompt": system,
            "prompt": prompt,
            "input_tokens": in_tok,
            "output_tokens": out_tok,
            "max_tokens": max_tokens,
            "temperature": temp,
            "tools": tools,
            "reasoning_requested": reasoning,
            "stop_reason": stop,
            "latency_ms": latency,
            "status": status,
        }

    # -------------------------------------------------------------------------------------- manifest
    def _manifest(self, b: Builder) -> dict:
        p = self.params
        per_actor = {a.account_id: len(a.planned(a.t)) for a in self.actors}
        camps = []
        for c in self.campaigns:
            members = [m for m in c.members if m.account_id in per_actor]
            info = {k: v for k, v in c.info.items() if not k.startswith("_")}
            camps.append(
                {
                    "id": c.id,
                    "kind": c.kind,
                    "focus": c.focus,
                    "n_accounts": len(members),
                    "n_requests": sum(per_actor[m.account_id] for m in members),
                    "resold_customers": sum(1 for a in self.actors if a.extra.get("via") == c.id),
                    **info,
                }
            )
        legit: dict[str, int] = {}
        for a in self.actors:
            if not a.attack:
                legit[a.kind] = legit.get(a.kind, 0) + 1
        return {
            "generator": "distillguard.simulate/1",
            "seed": p.seed,
            "scale": p.scale,
            "scenario": p.scenario,
            "redact": p.redact,
            "days": p.days,
            "evasive_requests": p.evasive_requests,
            "start": _iso(self.start),
            "end": _iso(self.start + timedelta(seconds=p.days * DAY)),
            "models": [
                {"name": "frontier-4", "released": "2025-06-10T00:00:00Z", "new": False},
                {"name": "frontier-4-mini", "released": "2025-08-21T00:00:00Z", "new": False},
                {"name": "frontier-5", "released": _iso(self.start + timedelta(seconds=self.release)), "new": True},
            ],
            "new_model": "frontier-5",
            "new_model_release": _iso(self.start + timedelta(seconds=self.release)),
            "campaigns": camps,
            "legit_accounts": legit,
            "accounts": len(self.actors),
            "attack_accounts": sum(a.attack for a in self.actors),
            "requests": self.n_requests,
            "rate_limited_retries": self.n_retries,
            "duplicates": self.n_duplicates,
            "events": self.n_requests + self.n_retries + self.n_duplicates,
            "duplicate_policy": "a replay repeats the event (same event_id and content) 1-25 s later; its ts is the replay time",
        }


def generate(
    *,
    seed: int,
    scale: float = 1.0,
    scenario: str = "standard",
    redact: float = 0.0,
    days: float = 1.0,
    evasive_requests: float | None = None,
) -> Simulation:
    """Plan a simulated window; iterate ``.events()`` for the events, read ``.labels`` and ``.manifest``.
    ``evasive_requests`` sets the mean requests per adaptive account over the window (default: each variant's)."""
    return Simulation(
        seed=seed, scale=scale, scenario=scenario, redact=redact, days=days, evasive_requests=evasive_requests
    )


def simulate(
    out_dir: str | Path,
    *,
    seed: int,
    scale: float = 1.0,
    scenario: str = "standard",
    redact: float = 0.0,
    days: float = 1.0,
    evasive_requests: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Write ``events.jsonl.gz`` (time-ordered), ``labels.json`` and ``manifest.json`` into ``out_dir``;
    return the manifest. Byte-identical output for identical parameters."""
    sim = generate(
        seed=seed, scale=scale, scenario=scenario, redact=redact, days=days, evasive_requests=evasive_requests
    )
    return write(sim, out_dir, progress)


def write(sim: Simulation, out_dir: str | Path, progress: Callable[[int], None] | None = None) -> dict:
    """Write a planned simulation's files into ``out_dir`` (see :func:`simulate`); return its manifest."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    enc = msgspec.json.Encoder()
    tmp = out / "events.jsonl.gz.tmp"
    n = 0
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=4, mtime=0) as gz:
        buf: list[bytes] = []
        for ev in sim.events(progress):
            buf.append(enc.encode(ev))
            n += 1
            if len(buf) >= 4096:
                gz.write(b"\n".join(buf) + b"\n")
                buf.clear()
        if buf:
            gz.write(b"\n".join(buf) + b"\n")
    tmp.replace(out / "events.jsonl.gz")
    (out / "labels.json").write_text(json.dumps(sim.labels, indent=1, sort_keys=True) + "\n")
    manifest = sim.manifest
    assert manifest["events"] == n
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest
