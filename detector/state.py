"""Per-account state: events are buffered as columns and folded into numpy accumulators in batches.

``AccountState.add`` does the unavoidable per-event work (dedup, interning, text signals) and appends
to column lists; ``fold`` aggregates the buffer with vectorised group operations. All state is plain
numbers, arrays and dicts, serialised by :meth:`snapshot` without pickle.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import partial
from itertools import repeat
from typing import Any

import msgspec
import numpy as np

from distillguard.detector.dedup import SeenIds, digest
from distillguard.detector.events import Event
from distillguard.detector.signals import (
    AGENTIC,
    GRADING,
    REASONING,
    REWRITE,
    TEXT,
    subnet_of,
    template_keys,
    text_flags,
)
from distillguard.detector.store import GROW_MIN, GROWTH, Store
from distillguard.detector.units import HOUR, MINUTE

# Metadata bits beyond the text signal bits of detector.signals.
REASONING_REQ = 1 << 5
TOOLS = 1 << 6
SYSTEM = 1 << 7
STOP_MAX = 1 << 8
STOP_TOOL = 1 << 9
HIGH_MAX = 1 << 10  # max_tokens >= HIGH_MAX_TOKENS
MULTI_TURN = 1 << 11  # turn_index > 0
REFUSAL = 1 << 12

# The per-account stores pack an account and a value into one int64 key, ``account << BITS | value``, with as
# many low bits as the value needs (and the rest for account numbers).
VALUE_BITS = 32  # interned indicators (cards, IPs, clients ...), template keys; also cluster labels over values
MODEL_BITS = 20  # interned model names
HOUR_BITS = 24  # epoch hours (2**24 hours: until the year 3883)
INDICATORS = ("card", "ip", "subnet", "asn", "client", "api_key")
VERIFICATION = ("standard", "education", "research", "startup", "enterprise")
SAMPLES_PER_ACCOUNT = 3
# Template skeletons come from first-turn prompts long enough to hold a fixed part and a variable
# part; short chat follow-ups ("thanks!", "why?") are shared by everyone and are no template.
MIN_TEMPLATE_CHARS = 60
# The hourly timeline keeps this many hours behind the watermark (more than the de-duplication horizon,
# so late events land in kept hours); older hours are folded into per-account counts, so the state and
# the cost of re-scoring stop growing with history. Verdicts' ``hourly_requests`` cover the kept hours.
TIMELINE_HOURS = 72.0
HIGH_MAX_TOKENS = 8000  # a max_tokens this high asks for long outputs (the HIGH_MAX bit)
SAMPLE_CHARS = 2000  # sample prompts kept per account are cut to this length
TEMPLATE_TEXT_CHARS = 80  # a template's opening / closing kept to show in cluster evidence
TEMPLATE_TEXTS = 200_000  # openings and closings kept at most (the first ones seen)
# Raw (card, ip, asn, tls, ua, key) combinations remembered with their ids; cleared when full. Each costs about
# 350 bytes (its tuples and shared strings), so the cache is a fixed cost of a few MB, not one per account; a combination
# missed costs about 2.5 us to intern again (at 16x the accounts of a simulated day, about 40% of events miss, 1 in 100 of
# the CPU; with 1 << 17 entries, 15% missed for ~45 MB).
INFRA_CACHE = 1 << 14
# A prompt skeleton an account used only once is forgotten between this many hours and twice as many after it was
# first seen, unless it was used again: a campaign's templates repeat within hours, while a free chatter's one-off
# prompts would otherwise pile up with history (about 12 a day per account). The count of skeletons an account has
# ever used (template diversity) keeps counting them.
FORGET_SINGLE_TEMPLATE_HOURS = 48
# 2: event ids as digests; 3: skeletons used once are forgotten (templates_seen, top_template and the skeletons due
# to be forgotten are kept); 4: the first event time and each model's first use kept apart from accounts (so
# accounts may leave). Versions 1 to 3 are still read.
SNAPSHOT_VERSION = 4
# Requests per account by flag and by hour of day are counted in int32 (half the bytes) while every account's requests
# fit it (no such count exceeds them), and in int64 from the first that does not.
_INT32_MAX = int(np.iinfo(np.int32).max)
DEDUP_HORIZON_HOURS = 24.0  # event ids are remembered this long (duplicates within it are ignored)
CLOCK_EVERY = 4096  # the wall clock is read once per this many time-rule checks (a power of two)

# Accumulated per account: name -> dtype. Sums over requests unless noted.
_ACC = {
    "n": np.int64,
    "in_tok": np.float64,
    "out_tok": np.float64,
    "log_out": np.float64,
    "log_out_sq": np.float64,
    "max_tok_n": np.int64,
    "log_max_tok": np.float64,
    "s429": np.int64,
    "s4xx": np.int64,
    "s5xx": np.int64,
    "temp_n": np.int64,
    "temp": np.float64,
    "gap_n": np.int64,
    "log_gap": np.float64,
    "log_gap_sq": np.float64,
    "first_ts": np.float64,
    "last_ts": np.float64,
    "created": np.float64,
    "verification": np.int8,
    "org": np.int64,
}
_ACC_EMPTY = {
    "first_ts": np.nan,
    "last_ts": np.nan,
    "created": np.nan,
    "verification": -1,
    "org": -1,
}  # a new account's; others 0
_STOP_FLAGS: dict[str | None, int] = {
    "max_tokens": STOP_MAX,
    "tool_use": STOP_TOOL,
    "refusal": REFUSAL,
}  # stop reason -> its bit
_FLAG_BITS = (
    REASONING,
    AGENTIC,
    GRADING,
    REWRITE,
    TEXT,
    REASONING_REQ,
    TOOLS,
    SYSTEM,
    STOP_MAX,
    STOP_TOOL,
    HIGH_MAX,
    MULTI_TURN,
    REFUSAL,
)


def _column(values: list, dtype: type) -> np.ndarray:
    """A buffered column as an array (``np.fromiter`` with its count: faster than ``np.asarray`` on a list)."""
    return np.fromiter(values, dtype=dtype, count=len(values))


def _bytes(flags: bytearray) -> np.ndarray:
    """A copy of a bytearray as a uint8 array (a view would keep the bytearray from growing)."""
    return np.frombuffer(bytes(flags), dtype=np.uint8)


def _grow(arr: np.ndarray, size: int, fill: float = 0) -> np.ndarray:
    """``arr`` with at least ``size`` rows (new ones ``fill``), grown by ``GROWTH`` when it must grow."""
    if size <= len(arr):
        return arr
    new = np.full((max(size, int(GROWTH * len(arr)), GROW_MIN), *arr.shape[1:]), fill, dtype=arr.dtype)
    new[: len(arr)] = arr
    return new


def _count_dtype(most: float) -> type:
    """The dtype of per-account request counts that reach at most ``most``."""
    return np.int32 if most <= _INT32_MAX else np.int64


@dataclass(slots=True)
class EventBuffer:
    """Events added since the last :meth:`AccountState.fold`, one list per column (ids are interned)."""

    account: list[int] = field(default_factory=list)
    ts: list[float] = field(default_factory=list)
    input_tokens: list[int] = field(default_factory=list)
    output_tokens: list[int] = field(default_factory=list)
    max_tokens: list[int] = field(default_factory=list)  # -1 when absent
    status: list[int] = field(default_factory=list)
    flags: list[int] = field(default_factory=list)  # signal bits
    model: list[int] = field(default_factory=list)
    temperature: list[float] = field(default_factory=list)  # -1.0 when absent
    infra: list[int] = field(default_factory=list)  # ids per INDICATORS, -1 where absent, one event after another
    # one entry per first-turn prompt long enough to hold a template: its account and skeleton keys
    template_account: list[int] = field(default_factory=list)
    template_head: list[int] = field(default_factory=list)
    template_tail: list[int] = field(default_factory=list)
    samples: dict[int, list[str]] = field(default_factory=dict)  # new sample prompts per account

    def __len__(self) -> int:
        return len(self.account)

    def clear(self) -> None:
        """Empty every column."""
        for f in fields(self):
            getattr(self, f.name).clear()


@dataclass
class Rejected:
    """An event the state refused, with the reason (the stream dead-letters it)."""

    event: Event
    reason: str


@dataclass
class AccountState:
    """Accumulators for every account seen, plus the interning tables and the dedup window."""

    dedup_horizon_hours: float = DEDUP_HORIZON_HOURS
    max_future_minutes: float = 60.0
    timeline_hours: float = TIMELINE_HOURS
    ids: dict[str, int] = field(default_factory=dict)
    names: list[str] = field(default_factory=list)
    acc: dict[str, np.ndarray] = field(default_factory=lambda: {k: np.zeros(0, dtype=t) for k, t in _ACC.items()})
    flags: np.ndarray = field(default_factory=lambda: np.zeros((0, len(_FLAG_BITS)), dtype=np.int32))  # see _fit_counts
    hours: np.ndarray = field(default_factory=lambda: np.zeros((0, 24), dtype=np.int32))
    interned: dict[str, dict[str, int]] = field(default_factory=lambda: {k: {} for k in (*INDICATORS, "model", "org")})
    links: dict[str, Store[int]] = field(
        default_factory=lambda: {k: Store() for k in INDICATORS}
    )  # acct << VALUE_BITS | value -> requests
    templates: Store[int] = field(default_factory=Store)  # acct << VALUE_BITS | key -> count
    top_template: np.ndarray = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64)
    )  # per account: its largest template count
    template_text: dict[int, str] = field(default_factory=dict)  # key -> a sample opening/closing
    templates_seen: np.ndarray = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64)
    )  # per account: distinct skeletons ever used (forgotten ones included)
    template_singles: np.ndarray = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64)
    )  # template keys used once at the last forgetting, sorted: forgotten at the next unless used again
    templates_forgotten_at: int = -(2**62)  # the last forgetting, in FORGET_SINGLE_TEMPLATE_HOURS since 1970
    model_first: Store[float] = field(
        default_factory=lambda: Store(np.float64)
    )  # acct << MODEL_BITS | model -> first ts
    model_count: Store[int] = field(default_factory=Store)  # acct << MODEL_BITS | model -> requests
    timeline: Store[int] = field(
        default_factory=Store
    )  # acct << HOUR_BITS | epoch hour -> requests, the last timeline_hours
    # per account, from hours folded out of the timeline: active hours, and requests at or after the
    # release hour known when they were folded (see retire_timeline)
    retired_hours: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    retired_after_release: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    retired_below: int = -(2**62)  # epoch hours below this have been folded
    # The first event time of any account, and each model's first use by anyone: kept here, so that accounts leaving
    # the state (see remove) change neither the warm-up nor any model's release.
    first_seen: float = math.inf
    model_first_seen: dict[int, float] = field(default_factory=dict)  # model id -> event time
    samples: dict[int, list[str]] = field(default_factory=dict)
    watermark: float = -math.inf
    stats: dict[str, int] = field(default_factory=lambda: dict(events=0, duplicates=0, late=0, rejected=0))
    _seen: SeenIds = field(default_factory=SeenIds)  # event ids within the de-duplication horizon
    _seen_below: int = -(2**62)  # event hours below this have left the de-duplication window
    _pending: EventBuffer = field(default_factory=EventBuffer)
    _dirty: bytearray = field(default_factory=bytearray)  # per account: 1 if changed since the last summaries export
    _infra: dict[tuple, tuple[int, ...]] = field(default_factory=dict)
    _strings: dict[str, str] = field(default_factory=dict)  # see _shared
    _ip_subnet: array = field(default_factory=lambda: array("q"))  # ip id -> subnet id, -1 until needed
    _clock_calls: int = 0
    _now: float = 0.0

    # ---- per event -------------------------------------------------------------------------------
    def _intern(self, kind: str, value: str) -> int:
        table = self.interned[kind]
        v = table.get(value)
        if v is None:
            v = table[self._shared(value)] = len(table)
        return v

    def _intern_infra(self, raw: tuple) -> tuple[int, ...]:
        """Ids of an event's (card, ip, subnet, asn, client, api key), -1 where absent; remembered per
        raw combination, since an account (or a proxy's accounts) repeats the same few."""
        card, ip, asn, tls, ua, api_key = raw
        shared, intern = self._shared, self._intern
        if len(self._infra) >= INFRA_CACHE:
            self._infra.clear()
            self._strings.clear()
        # Remembered under shared copies of its strings: each event decodes its own, and holding those would
        # cost a cached combination the text of its address, card, client build and key again (most of its size).
        key = (card and shared(card), shared(ip), asn, tls and shared(tls), ua and shared(ua), shared(api_key))
        ua = ua or ""
        self._infra[key] = ids = (
            intern("card", card) if card else -1,
            ip_id := intern("ip", ip),
            self._subnet(ip_id, ip),
            intern("asn", str(asn)) if asn is not None else -1,
            intern("client", f"{tls or '-'}|{ua}") if (tls or ua) else -1,
            intern("api_key", api_key),
        )
        return ids

    def _shared(self, text: str) -> str:
        """One copy of each string the infra cache and the intern tables hold (emptied with the cache)."""
        return self._strings.setdefault(text, text)

    def _subnet(self, ip_id: int, ip: str) -> int:
        """The subnet id of an interned IP address (parsed once per address)."""
        memo = self._ip_subnet
        if ip_id >= len(memo):
            memo.extend(repeat(-1, ip_id + 1 - len(memo)))
        sub = memo[ip_id]
        if sub < 0:
            sub = memo[ip_id] = self._intern("subnet", subnet_of(ip))
        return sub

    def _new_account(self, name: str) -> int:
        """Register an account (its accumulators start empty) and return its id."""
        a = self.ids[name] = len(self.names)
        self.names.append(name)
        self._dirty.append(0)
        n = a + 1
        for k, arr in self.acc.items():
            self.acc[k] = _grow(arr, n, _ACC_EMPTY.get(k, 0))
        self.flags = _grow(self.flags, n)
        self.hours = _grow(self.hours, n)
        self.top_template = _grow(self.top_template, n)
        self.templates_seen = _grow(self.templates_seen, n)
        self.retired_hours = _grow(self.retired_hours, n)
        self.retired_after_release = _grow(self.retired_after_release, n)
        return a

    def _account(self, ev: Event) -> int:
        a = self.ids.get(ev.account_id)
        if a is not None:
            return a
        a = self._new_account(ev.account_id)
        acc = self.acc
        acc["created"][a] = ev.account_created_at.timestamp() if ev.account_created_at else np.nan
        acc["verification"][a] = VERIFICATION.index(ev.verification_path) if ev.verification_path else -1
        acc["org"][a] = self._intern("org", ev.org_id) if ev.org_id else -1
        return a

    def _wall_clock(self) -> float:
        """Wall-clock time, read once per ``CLOCK_EVERY`` calls (a second of staleness does not matter here)."""
        self._clock_calls += 1
        if self._clock_calls & (CLOCK_EVERY - 1) == 1:
            self._now = datetime.now(UTC).timestamp()
        return self._now

    def reject_reason(self, ev: Event, ts: float) -> str | None:
        """Why the time rules refuse an event, or None. Events more than ``max_future_minutes`` ahead of
        the wall clock are refused; so are events older than the de-duplication horizon behind the
        stream's event time, since a replay of them could no longer be recognised."""
        if ts > self._wall_clock() + self.max_future_minutes * MINUTE:
            return f"ts is more than {self.max_future_minutes:g} min in the future"
        if ts < self.watermark - self.dedup_horizon_hours * HOUR:
            return f"ts is more than {self.dedup_horizon_hours:g} h behind the stream (past the de-duplication horizon)"
        return None

    def add(self, ev: Event, ts: float | None = None) -> Rejected | None:
        """Buffer one event (``ts``: its epoch seconds, if already known); return a :class:`Rejected`
        if it is refused by the time rules."""
        eid = digest(ev.event_id)
        if eid in self._seen:
            self.stats["duplicates"] += 1
            return None
        if ts is None:
            ts = ev.ts.timestamp()
        reason = self.reject_reason(ev, ts)
        if reason is not None:
            self.stats["rejected"] += 1
            return Rejected(ev, reason)
        self._seen.add(eid, int(ts // HOUR))
        if ts > self.watermark:
            self.watermark = ts
        elif ts < self.watermark - HOUR:
            self.stats["late"] += 1
        self.stats["events"] += 1

        a = self.ids.get(ev.account_id)
        if a is None:
            a = self._account(ev)
        prompt, system, mt, turn = ev.prompt, ev.system_prompt, ev.max_tokens, ev.turn_index
        flags = text_flags(prompt, system) | _STOP_FLAGS.get(ev.stop_reason, 0)
        if ev.reasoning_requested:
            flags |= REASONING_REQ
        if ev.tools:
            flags |= TOOLS
        if system:
            flags |= SYSTEM
        if mt is not None and mt >= HIGH_MAX_TOKENS:
            flags |= HIGH_MAX
        if turn:
            flags |= MULTI_TURN
        model = self.interned["model"].get(ev.model)
        if model is None:
            model = self._intern("model", ev.model)
        raw = (ev.payment_fingerprint, ev.ip, ev.asn, ev.tls_fingerprint, ev.user_agent, ev.api_key_id)
        infra = self._infra.get(raw)
        if infra is None:
            infra = self._intern_infra(raw)
        b = self._pending
        b.account.append(a)
        b.ts.append(ts)
        b.input_tokens.append(ev.input_tokens)
        b.output_tokens.append(ev.output_tokens)
        b.max_tokens.append(-1 if mt is None else mt)
        b.status.append(ev.status)
        b.flags.append(flags)
        b.model.append(model)
        b.temperature.append(-1.0 if (temp := ev.temperature) is None else temp)
        b.infra.extend(infra)
        if prompt:
            if not turn and len(prompt) >= MIN_TEMPLATE_CHARS:
                self._add_template(a, prompt)
            self._add_sample(a, prompt)
        self._dirty[a] = 1
        return None

    def _add_template(self, a: int, prompt: str) -> None:
        """Buffer the skeleton keys of account ``a``'s first-turn prompt (and remember its opening and closing)."""
        b = self._pending
        kh, kt = template_keys(prompt)
        b.template_account.append(a)
        b.template_head.append(kh)
        b.template_tail.append(kt)
        tt = self.template_text
        if kh not in tt and len(tt) < TEMPLATE_TEXTS:
            tt[kh] = prompt[:TEMPLATE_TEXT_CHARS]
            tt[kt] = prompt[-TEMPLATE_TEXT_CHARS:]

    def _add_sample(self, a: int, prompt: str) -> None:
        """Buffer ``prompt`` as a sample of account ``a`` while it has fewer than ``SAMPLES_PER_ACCOUNT`` (kept at the
        next fold, like the counts)."""
        kept = len(self.samples.get(a, ()))
        if kept < SAMPLES_PER_ACCOUNT:
            new = self._pending.samples.get(a)
            if new is None:
                self._pending.samples[a] = [prompt[:SAMPLE_CHARS]]
            elif kept + len(new) < SAMPLES_PER_ACCOUNT:
                new.append(prompt[:SAMPLE_CHARS])

    # ---- per batch -------------------------------------------------------------------------------
    def fold(self) -> None:
        """Aggregate the buffered events into the accumulators."""
        b = self._pending
        if not len(b):
            return
        n_acc = len(self.names)
        acct = _column(b.account, np.int64)
        ts = _column(b.ts, np.float64)
        tin = _column(b.input_tokens, np.float64)
        tout = _column(b.output_tokens, np.float64)
        mt = _column(b.max_tokens, np.float64)
        status = _column(b.status, np.int64)
        flags = _column(b.flags, np.int64)
        model = _column(b.model, np.int64)
        temp = _column(b.temperature, np.float64)
        ind = _column(b.infra, np.int64).reshape(-1, len(INDICATORS))
        acc = self.acc

        def add(name: str, weights: np.ndarray | None = None) -> None:
            acc[name][:n_acc] += np.bincount(acct, weights=weights, minlength=n_acc).astype(acc[name].dtype)

        add("n")
        self._fit_counts(int(acc["n"][:n_acc].max()))
        add("in_tok", tin)
        add("out_tok", tout)
        lo = np.log1p(tout)
        add("log_out", lo)
        add("log_out_sq", lo * lo)
        has_mt = mt >= 0
        add("max_tok_n", has_mt.astype(np.float64))
        add("log_max_tok", np.where(has_mt, np.log1p(np.maximum(mt, 0)), 0.0))
        add("s429", (status == 429).astype(np.float64))
        add("s4xx", ((status >= 400) & (status < 500)).astype(np.float64))
        add("s5xx", (status >= 500).astype(np.float64))
        has_t = temp >= 0
        add("temp_n", has_t.astype(np.float64))
        add("temp", np.where(has_t, temp, 0.0))
        for j, bit in enumerate(_FLAG_BITS):
            self.flags[:n_acc, j] += np.bincount(acct, weights=(flags & bit) > 0, minlength=n_acc).astype(
                self.flags.dtype
            )
        hod = ((ts // HOUR) % 24).astype(np.int64)
        self.hours[:n_acc] += (
            np.bincount(acct * 24 + hod, minlength=n_acc * 24).reshape(n_acc, 24).astype(self.hours.dtype)
        )

        # Inter-arrival gaps within each account, including the gap from its previous batch.
        order = np.lexsort((ts, acct))
        a_s, t_s = acct[order], ts[order]
        first_in_group = np.ones(len(a_s), dtype=bool)
        first_in_group[1:] = a_s[1:] != a_s[:-1]
        prev = np.empty_like(t_s)
        prev[1:] = t_s[:-1]
        prev[first_in_group] = acc["last_ts"][a_s[first_in_group]]
        gaps = t_s - prev
        valid = ~np.isnan(gaps)
        lg = np.log1p(np.maximum(gaps[valid], 0.0))
        ga = a_s[valid]
        acc["gap_n"][:n_acc] += np.bincount(ga, minlength=n_acc)
        acc["log_gap"][:n_acc] += np.bincount(ga, weights=lg, minlength=n_acc)
        acc["log_gap_sq"][:n_acc] += np.bincount(ga, weights=lg * lg, minlength=n_acc)
        first_ts = np.full(n_acc, np.inf)
        np.minimum.at(first_ts, acct, ts)
        last_ts = np.full(n_acc, -np.inf)
        np.maximum.at(last_ts, acct, ts)
        touched = np.isfinite(first_ts)
        acc["first_ts"][:n_acc][touched] = np.fmin(acc["first_ts"][:n_acc][touched], first_ts[touched])
        acc["last_ts"][:n_acc][touched] = np.fmax(acc["last_ts"][:n_acc][touched], last_ts[touched])

        for j, kind in enumerate(INDICATORS):
            col = ind[:, j]
            ok = col >= 0
            self.links[kind].add((acct[ok] << VALUE_BITS) | col[ok])
        mkey = (acct << MODEL_BITS) | model
        self.model_count.add(mkey)
        o = np.lexsort((ts, mkey))
        mk, mts = mkey[o], ts[o]
        head = np.ones(len(mk), dtype=bool)
        head[1:] = mk[1:] != mk[:-1]
        self.model_first.minimum(mk[head], mts[head])
        self._first_seen(float(ts.min()), ((m, float(ts[model == m].min())) for m in np.unique(model).tolist()))
        self.timeline.add((acct << HOUR_BITS) | (ts // HOUR).astype(np.int64))
        if b.template_account:
            ta = _column(b.template_account, np.int64)
            keys = np.concatenate(
                [
                    (ta << VALUE_BITS) | _column(b.template_head, np.int64),
                    (ta << VALUE_BITS) | _column(b.template_tail, np.int64),
                ]
            )
            uniq, totals = self.templates.add(keys)
            counts = np.unique(keys, return_counts=True)[1]  # this batch's, in the order of uniq
            np.maximum.at(self.top_template, uniq >> VALUE_BITS, totals)
            self.templates_seen[:n_acc] += np.bincount(uniq[totals == counts] >> VALUE_BITS, minlength=n_acc)
        for a, new in b.samples.items():
            self.samples.setdefault(a, []).extend(new)
        b.clear()
        self._evict_seen()

    def _fit_counts(self, most: int) -> None:
        """Widen the flag and hour-of-day counts to the dtype counts reaching ``most`` need (they never narrow)."""
        dtype = np.promote_types(self.flags.dtype, _count_dtype(most))
        self.flags, self.hours = self.flags.astype(dtype, copy=False), self.hours.astype(dtype, copy=False)

    def _first_seen(self, ts: float, model_times: Iterable[tuple[int, float]]) -> None:
        """Lower the first event time and each model's first use to what ``ts`` and ``model_times`` say."""
        if ts < self.first_seen:  # NaN (an account without events) never is
            self.first_seen = ts
        first = self.model_first_seen
        for m, t in model_times:
            if t < first.get(m, math.inf):
                first[m] = t

    def timeline_cutoff(self) -> int | None:
        """The epoch hour below which the timeline is due to be folded, or None while nothing new is due."""
        cutoff = int((self.watermark - self.timeline_hours * HOUR) // HOUR) if math.isfinite(self.watermark) else None
        return cutoff if cutoff is not None and cutoff > self.retired_below else None

    def retire_timeline(self, cutoff: int, release_hour: int | None) -> None:
        """Fold timeline hours before ``cutoff`` into per-account counts: active hours, and requests at or
        after ``release_hour`` (the first new model's release, None if none yet). Folded hours are older
        than the de-duplication horizon, so a later release cannot be earlier than any of them (only a
        summary from a worker far behind could say otherwise); the classification stays right."""
        self.fold()
        self.retired_below = cutoff
        a, h, c = self.timeline.split(HOUR_BITS)
        old = h < cutoff
        if not old.any():
            return
        n = self.size
        self.retired_hours[:n] += np.bincount(a[old], minlength=n)
        if release_hour is not None:
            after = old & (h >= release_hour)
            self.retired_after_release[:n] += np.bincount(a[after], weights=c[after], minlength=n).astype(np.int64)
        self.timeline.keep(~old)

    def forget_single_templates(self) -> None:
        """Every ``FORGET_SINGLE_TEMPLATE_HOURS`` of event time, forget the template keys used once at the previous
        forgetting and not since, and the openings and closings of skeletons no account holds any more."""
        if not math.isfinite(self.watermark):
            return
        period = int(self.watermark // (FORGET_SINGLE_TEMPLATE_HOURS * HOUR))
        if period <= self.templates_forgotten_at:
            return
        self.fold()
        self.templates_forgotten_at = period
        keys, counts = self.templates.arrays()
        stale = keys[(counts == 1) & np.isin(keys, self.template_singles)]
        if len(stale):
            self.templates.discard(stale)
            keys, counts = self.templates.arrays()
            held = set(np.unique(keys & ((1 << VALUE_BITS) - 1)).tolist())
            self.template_text = {k: text for k, text in self.template_text.items() if k in held}
        self.template_singles = np.sort(keys[counts == 1])

    def remove(self, gone: np.ndarray) -> np.ndarray:
        """Take the accounts ``gone`` (ids) out of the state, with everything held about them (export their summaries
        first to keep them). The others keep their order and are renumbered; returns each old id's new one (-1 where
        removed). Indicator values no account holds any more are forgotten (see :meth:`_forget_values`); models and
        organisations, the de-duplication window and the first-use times stay."""
        self.fold()
        n = self.size
        keep = np.ones(n, dtype=bool)
        keep[gone] = False
        new_id = np.where(keep, np.cumsum(keep) - 1, -1)
        self.names = [name for name, kept in zip(self.names, keep.tolist(), strict=True) if kept]
        self.ids = {name: i for i, name in enumerate(self.names)}
        self.acc = {k: arr[:n][keep] for k, arr in self.acc.items()}
        for name in ("flags", "hours", "top_template", "templates_seen", "retired_hours", "retired_after_release"):
            setattr(self, name, getattr(self, name)[:n][keep])

        for store, shift in self._stores():
            keys, values = store.arrays()
            held = keep[keys >> shift]
            store.replace(renumbered_keys(keys[held], shift, new_id), values[held])
        singles = self.template_singles
        self.template_singles = renumbered_keys(singles[keep[singles >> VALUE_BITS]], VALUE_BITS, new_id)
        self.samples = {int(new_id[a]): texts for a, texts in self.samples.items() if keep[a]}
        self._dirty = bytearray(_bytes(self._dirty)[keep].tobytes())
        skeletons = set(np.unique(self.templates.arrays()[0] & ((1 << VALUE_BITS) - 1)).tolist())
        self.template_text = {k: text for k, text in self.template_text.items() if k in skeletons}
        self._forget_values()
        return new_id

    def _forget_values(self) -> None:
        """Drop the interned indicator values (addresses, cards, keys, client builds ...) that no store holds, and
        renumber the rest in their order, so that store keys keep their order; the raw-combination cache, which holds
        their ids, starts again."""
        mask = (1 << VALUE_BITS) - 1
        renumbered: dict[str, np.ndarray] = {}  # kind -> new id of each old one (-1: forgotten)
        for kind, store in self.links.items():
            keys, values = store.arrays()
            held = np.unique(keys & mask)
            table = self.interned[kind]
            new_value = np.full(len(table), -1, dtype=np.int64)
            new_value[held] = np.arange(len(held))
            store.replace((keys & ~mask) | new_value[keys & mask], values)
            names = list(table)
            self.interned[kind] = {names[v]: i for i, v in enumerate(held.tolist())}
            renumbered[kind] = new_value
        old_subnet = np.asarray(self._ip_subnet, dtype=np.int64)
        old_ip = np.flatnonzero(renumbered["ip"] >= 0)  # old ids of the addresses kept, in their new order
        known = np.full(len(old_ip), -1, dtype=np.int64)
        memo = old_ip < len(old_subnet)
        known[memo] = old_subnet[old_ip[memo]]
        subnet = np.where(known >= 0, renumbered["subnet"][np.maximum(known, 0)], -1)
        self._ip_subnet = array("q", subnet.tolist())
        self._infra.clear()
        self._strings.clear()

    def _evict_seen(self) -> None:
        if not math.isfinite(self.watermark):
            return
        horizon = int((self.watermark - self.dedup_horizon_hours * HOUR) // HOUR)
        if horizon > self._seen_below:
            self._seen.evict_before(horizon)
            self._seen_below = horizon

    # ---- views -----------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Accounts seen."""
        return len(self.names)

    def col(self, name: str) -> np.ndarray:
        """An accumulator trimmed to the accounts seen."""
        return self.acc[name][: self.size]

    def flag_count(self, bit: int) -> np.ndarray:
        """Requests per account with the given signal bit."""
        return self.flags[: self.size, _FLAG_BITS.index(bit)]

    def hour_hist(self) -> np.ndarray:
        """Requests per account by hour of day (UTC), shape (accounts, 24)."""
        return self.hours[: self.size]

    # ---- persistence -----------------------------------------------------------------------------
    def snapshot(self) -> bytes:
        """The full state as msgpack (after folding the buffer)."""
        self.fold()
        n = self.size
        doc = {
            "v": SNAPSHOT_VERSION,
            "dedup_horizon_hours": self.dedup_horizon_hours,
            "max_future_minutes": self.max_future_minutes,
            "names": self.names,
            "acc": {k: [str(a.dtype), a[:n].tobytes()] for k, a in self.acc.items()},
            "flags": self.flags[:n].astype(np.int64).tobytes(),
            "hours": self.hours[:n].astype(np.int64).tobytes(),
            "interned": {k: list(v) for k, v in self.interned.items()},
            "links": {k: [list(v.keys()), list(v.values())] for k, v in self.links.items()},
            "templates": [list(self.templates.keys()), list(self.templates.values())],
            "template_text": [list(self.template_text.keys()), list(self.template_text.values())],
            "template_memory": [
                self.top_template[:n].tobytes(),
                self.templates_seen[:n].tobytes(),
                self.template_singles.tobytes(),
                self.templates_forgotten_at,
            ],
            "model_first": [list(self.model_first.keys()), list(self.model_first.values())],
            "model_count": [list(self.model_count.keys()), list(self.model_count.values())],
            "timeline": [list(self.timeline.keys()), list(self.timeline.values())],
            "timeline_hours": self.timeline_hours,
            "retired": [self.retired_hours[:n].tobytes(), self.retired_after_release[:n].tobytes(), self.retired_below],
            "first_seen": [self.first_seen if math.isfinite(self.first_seen) else None, self.model_first_seen],
            "samples": [list(self.samples.keys()), list(self.samples.values())],
            "watermark": self.watermark if math.isfinite(self.watermark) else None,
            "stats": self.stats,
            "seen": [*(a.tobytes() for a in self._seen.arrays()), self._seen_below],
        }
        return msgspec.msgpack.encode(doc)

    @classmethod
    def restore(cls, data: bytes) -> AccountState:
        """Rebuild a state from :meth:`snapshot` bytes."""
        doc = msgspec.msgpack.decode(data)
        if doc.get("v") not in (1, 2, 3, SNAPSHOT_VERSION):
            raise ValueError(f"unsupported state snapshot version {doc.get('v')!r}")
        st = cls(dedup_horizon_hours=doc["dedup_horizon_hours"], max_future_minutes=doc["max_future_minutes"])
        st.names = doc["names"]
        st.ids = {name: i for i, name in enumerate(st.names)}
        n = len(st.names)
        st._dirty = bytearray(n)
        st.acc = {k: np.frombuffer(raw, dtype=np.dtype(dt)).copy() for k, (dt, raw) in doc["acc"].items()}
        flags = np.frombuffer(doc["flags"], dtype=np.int64).reshape(n, len(_FLAG_BITS))
        hours = np.frombuffer(doc["hours"], dtype=np.int64).reshape(n, 24)
        counts = _count_dtype(max(flags.max(initial=0), hours.max(initial=0)))
        st.flags, st.hours = flags.astype(counts), hours.astype(counts)
        st.interned = {k: {v: i for i, v in enumerate(vals)} for k, vals in doc["interned"].items()}
        st.links = {k: Store(np.int64, ks, vs) for k, (ks, vs) in doc["links"].items()}
        for name, dtype in (
            ("templates", np.int64),
            ("model_first", np.float64),
            ("model_count", np.int64),
            ("timeline", np.int64),
        ):
            setattr(st, name, Store(dtype, *doc[name]))
        for name in ("template_text", "samples"):
            ks, vs = doc[name]
            setattr(st, name, dict(zip(ks, vs, strict=True)))
        st.timeline_hours = doc.get("timeline_hours", TIMELINE_HOURS)
        if "retired" in doc:  # snapshots before the timeline was folded have none
            hours, after, st.retired_below = doc["retired"]
            st.retired_hours = np.frombuffer(hours, dtype=np.int64).copy()
            st.retired_after_release = np.frombuffer(after, dtype=np.int64).copy()
        else:
            st.retired_hours, st.retired_after_release = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        if "template_memory" in doc:
            top, seen, singles, st.templates_forgotten_at = doc["template_memory"]
            st.top_template = np.frombuffer(top, dtype=np.int64).copy()
            st.templates_seen = np.frombuffer(seen, dtype=np.int64).copy()
            st.template_singles = np.frombuffer(singles, dtype=np.int64).copy()
        else:  # before skeletons were forgotten, the store held every one
            st.top_template = np.zeros(n, dtype=np.int64)
            st._recount_top_templates()
            st.templates_seen = np.bincount(st.templates.split(VALUE_BITS)[0], minlength=n).astype(np.int64)
        if "first_seen" in doc:
            first, st.model_first_seen = doc["first_seen"]
            st.first_seen = math.inf if first is None else first
        else:  # before accounts could leave, the stores held every first use
            st._first_seen(float(np.nanmin(st.col("first_ts"))) if n else math.inf, ())
            _, model, at = st.model_first.split(MODEL_BITS)
            st._first_seen(math.inf, zip(model.tolist(), at.tolist(), strict=True))
        st.watermark = -math.inf if doc["watermark"] is None else doc["watermark"]
        st.stats = doc["stats"]
        if doc["v"] == 1:  # event ids per hour, before they were kept as digests
            pairs = [(digest(i), h) for h, ids in doc["seen"] for i in ids]
            st._seen = SeenIds(np.array([d for d, _ in pairs], np.int64), np.array([h for _, h in pairs], np.int32))
        else:
            digests, hours, st._seen_below = doc["seen"]
            st._seen = SeenIds(np.frombuffer(digests, np.int64), np.frombuffer(hours, np.int32))
        return st

    # ---- summaries (the linking stage) -----------------------------------------------------------
    def export_summaries(self, accounts: list[int] | None = None) -> list[AccountSummary]:
        """Summaries of the given accounts (default: those changed since the last export, then cleared)."""
        self.fold()
        if accounts is None:
            accounts = np.flatnonzero(_bytes(self._dirty)).tolist()
            self._dirty = bytearray(len(self._dirty))
        wanted = np.fromiter(accounts, dtype=np.int64, count=len(accounts))
        names = {k: list(v) for k, v in self.interned.items()}
        links = {kind: _by_account(store, VALUE_BITS, wanted) for kind, store in self.links.items()}
        stores = {name: _by_account(getattr(self, name), shift, wanted) for name, shift in _STORES.items()}
        out = []
        value_mask, model_mask, hour_mask = (1 << VALUE_BITS) - 1, (1 << MODEL_BITS) - 1, (1 << HOUR_BITS) - 1
        for a in accounts:
            tpl = {k & value_mask: v for k, v in stores["templates"].get(a, [])}
            org = int(self.acc["org"][a])
            out.append(
                AccountSummary(
                    account_id=self.names[a],
                    acc=[float(self.acc[k][a]) for k in _ACC],
                    flags=self.flags[a].tolist(),
                    hours=self.hours[a].tolist(),
                    links={
                        kind: {names[kind][k & value_mask]: v for k, v in items.get(a, [])}
                        for kind, items in links.items()
                    },
                    templates=tpl,
                    template_text={k: self.template_text[k] for k in tpl if k in self.template_text},
                    model_first={names["model"][k & model_mask]: v for k, v in stores["model_first"].get(a, [])},
                    model_count={names["model"][k & model_mask]: v for k, v in stores["model_count"].get(a, [])},
                    timeline={k & hour_mask: v for k, v in stores["timeline"].get(a, [])},
                    samples=self.samples.get(a, []),
                    org=names["org"][org] if org >= 0 else None,
                    retired_hours=int(self.retired_hours[a]),
                    retired_after_release=int(self.retired_after_release[a]),
                    top_template=int(self.top_template[a]),
                    templates_seen=int(self.templates_seen[a]),
                )
            )
        return out

    def absorb_summaries(self, summaries: list[AccountSummary], *, foreign: bool = False) -> None:
        """Replace the state of each summarised account with its summary (a later summary of the same account
        replaces an earlier one): whatever the stores held of it goes, by its range of keys. A ``foreign`` account
        (another worker's, absorbed for linking) is held without its sample prompts, which only its own verdict
        shows and only its owner writes."""
        self.fold()
        latest = {s.account_id: s for s in summaries}
        known = [a for name in latest if (a := self.ids.get(name)) is not None]
        self._discard_accounts(np.asarray(known, dtype=np.int64))
        fresh: dict[Store, tuple[list[int], list[float]]] = {}  # store -> keys and values to set
        model = partial(self._intern, "model")
        convert: dict[str, Callable[[Any], int]] = {
            "templates": int,
            "timeline": int,
            "model_first": model,
            "model_count": model,
        }
        for s in latest.values():
            a = self.ids.get(s.account_id)
            if a is None:
                a = self._new_account(s.account_id)
            for i, column in enumerate(_ACC):
                self.acc[column][a] = s.acc[i]
            self.acc["org"][a] = self._intern("org", s.org) if s.org else -1
            self._fit_counts(max((*s.flags, *s.hours), default=0))
            self.flags[a] = s.flags
            self.hours[a] = s.hours
            self.retired_hours[a] = s.retired_hours
            self.retired_after_release[a] = s.retired_after_release
            # summaries from before skeletons were forgotten carry neither: their templates are every one
            self.top_template[a] = s.top_template if s.top_template >= 0 else max(s.templates.values(), default=0)
            self.templates_seen[a] = s.templates_seen if s.templates_seen >= 0 else len(s.templates)
            sources: list[tuple[Store, Mapping[Any, float], int, Callable[[Any], int]]] = [
                (self.links[kind], values, VALUE_BITS, partial(self._intern, kind)) for kind, values in s.links.items()
            ]
            sources += [
                (getattr(self, name), getattr(s, name), shift, convert[name]) for name, shift in _STORES.items()
            ]
            for store, src, shift, conv in sources:
                ks, vs = fresh.setdefault(store, ([], []))
                ks.extend((a << shift) | conv(raw) for raw in src)
                vs.extend(src.values())
            if s.samples and not foreign:
                self.samples[a] = list(s.samples)
            else:
                self.samples.pop(a, None)
            self._first_seen(s.acc[_FIRST_TS], ((self._intern("model", m), t) for m, t in s.model_first.items()))
        for store, (ks, vs) in fresh.items():
            store.assign(np.asarray(ks, dtype=np.int64), np.asarray(vs))
        for s in summaries:
            for k, text in s.template_text.items():
                self.template_text.setdefault(k, text)
            w = s.acc[list(_ACC).index("last_ts")]
            if w == w and w > self.watermark:  # not NaN
                self.watermark = w

    def _discard_accounts(self, accounts: np.ndarray) -> None:
        """Drop every store key of ``accounts`` (ids): each account's keys are one range of each sorted store."""
        if not len(accounts):
            return
        for store, shift in self._stores():
            store.discard_ranges(accounts << shift, (accounts + 1) << shift)

    def _stores(self) -> list[tuple[Store, int]]:
        """Every per-account store with the key bits below the account."""
        stores = [(store, VALUE_BITS) for store in self.links.values()]
        return stores + [(getattr(self, name), shift) for name, shift in _STORES.items()]

    def _recount_top_templates(self) -> None:
        """Recompute every account's largest template count from the store (snapshots before version 3)."""
        ta, _, tc = self.templates.split(VALUE_BITS)
        self.top_template[:] = 0
        np.maximum.at(self.top_template, ta, tc)


class AccountSummary(msgspec.Struct, kw_only=True, array_like=True):
    """Everything the state holds about one account, self-contained (values as strings, not ids).

    Workers publish these to a compacted topic keyed by account; a linking stage absorbs them, each
    replacing the previous one for that account, so it sees every account of every partition.
    """

    account_id: str
    acc: list[float]
    flags: list[int]
    hours: list[int]
    links: dict[str, dict[str, int]]
    templates: dict[int, int]
    template_text: dict[int, str]
    model_first: dict[str, float]
    model_count: dict[str, int]
    timeline: dict[int, int]
    samples: list[str]
    org: str | None
    retired_hours: int = 0  # see AccountState.retire_timeline
    retired_after_release: int = 0
    top_template: int = -1  # the account's largest template count (-1: a summary from before it was sent)
    templates_seen: int = -1  # distinct skeletons the account ever used (-1: as above)


_FIRST_TS = list(_ACC).index("first_ts")
_STORES = {"templates": VALUE_BITS, "model_first": MODEL_BITS, "model_count": MODEL_BITS, "timeline": HOUR_BITS}


def renumbered_keys(keys: Any, shift: int, new_id: Any) -> Any:
    """Store keys (an array, or one int with ``new_id`` a list) with their account renumbered (``new_id``: old id ->
    new one, see :meth:`AccountState.remove`); ``shift``: the key bits below the account."""
    return (new_id[keys >> shift] << shift) | (keys & ((1 << shift) - 1))


def _by_account(store: Store, shift: int, wanted: np.ndarray) -> dict[int, list[tuple[int, Any]]]:
    """The (key, value) pairs of each of the ``wanted`` accounts, in insertion order (values as Python numbers)."""
    keys, values = store.arrays()
    sel = np.isin(keys >> shift, wanted)
    out: dict[int, list[tuple[int, Any]]] = {}
    for k, v in zip(keys[sel].tolist(), values[sel].tolist(), strict=True):
        out.setdefault(k >> shift, []).append((k, v))
    return out
