"""Template memory stays bounded with history: skeletons used once are forgotten, repeated ones are kept."""

from __future__ import annotations

import numpy as np

from distillguard.detector.detector import Detector
from distillguard.detector.features import IDX, account_features
from distillguard.detector.signals import template_keys
from distillguard.detector.state import FORGET_SINGLE_TEMPLATE_HOURS, VALUE_BITS, AccountState

from .factory import ev

WORDS = ("apple", "river", "orbit", "violet", "cobalt", "summit", "lantern", "meadow", "quartz", "harbor")
DAYS = 8
EVERY_HOURS = 3


def _one_off(i: int) -> str:
    """A prompt whose opening and closing are its own (a free chatter's)."""
    a, b, c = (WORDS[(i // 10**k) % 10] for k in range(3))
    return f"{a} {b} {c} question {a}{b}: tell me about the {c} {b} and why the {a} matters so much today {c}{b}{a}"


RING = "Please solve the following problem and show every step of your work: {q} Explain your reasoning first."


def _history(days: int = DAYS) -> list:
    events = []
    for i, h in enumerate(range(0, days * 24, EVERY_HOURS)):
        events.append(ev("chat", h * 60, prompt=_one_off(i)))
        events.append(ev("ring", h * 60 + 1, prompt=RING.format(q=f"what is {i:03d} times {i + 7:03d}?")))
    return events


def _skeletons(st: AccountState, account: str) -> set[int]:
    a, v, _ = st.templates.split(VALUE_BITS)
    return set(v[a == st.ids[account]].tolist())


def test_one_off_skeletons_are_forgotten_and_repeated_ones_kept() -> None:
    det = Detector()
    events = _history()
    det.process(events)
    det.flush()
    st = det.state
    sent = len(events) // 2
    # the chatter's skeletons from more than twice the forgetting period ago are gone; the recent ones are held
    recent = [template_keys(_one_off(i))[0] for i in range(sent - FORGET_SINGLE_TEMPLATE_HOURS // EVERY_HOURS, sent)]
    oldest = template_keys(_one_off(0))[0]
    held = _skeletons(st, "chat")
    assert set(recent) <= held and oldest not in held
    assert len(held) <= 2 * 2 * (2 * FORGET_SINGLE_TEMPLATE_HOURS // EVERY_HOURS)  # opening + closing, two periods
    assert oldest not in st.template_text and recent[-1] in st.template_text
    # the ring's repeated skeleton stays, with every use counted
    head, tail = template_keys(RING.format(q="what is 000 times 000?"))
    assert {head, tail} <= _skeletons(st, "ring")
    assert st.templates[(st.ids["ring"] << VALUE_BITS) | head] == sent
    # diversity still counts every skeleton ever used: the chatter's stays that of a chatter
    x = account_features(st)
    chat, ring = st.ids["chat"], st.ids["ring"]
    assert st.templates_seen[chat] == 2 * sent and x[chat, IDX["template_diversity"]] == 1.0
    assert x[ring, IDX["template_diversity"]] == 2 / (2 * sent)
    assert x[chat, IDX["top_template_share"]] == 1 / sent


def test_restarts_and_summaries_keep_what_was_forgotten_and_what_is_due() -> None:
    events = _history()
    whole = Detector()
    whole.process(events)
    whole.flush()
    det = Detector()
    for i in range(0, len(events), 17):
        det.process(events[i : i + 17])
        det = Detector.restore(det.snapshot())
    det.flush()
    assert [(v.account_id, v.score, v.action) for v in det.verdicts()] == [
        (v.account_id, v.score, v.action) for v in whole.verdicts()
    ]
    st, ref = det.state, whole.state
    assert st.templates.keys() == ref.templates.keys() and np.array_equal(st.template_singles, ref.template_singles)
    absorbed = AccountState()
    absorbed.absorb_summaries(ref.export_summaries([0, 1]))
    assert np.array_equal(account_features(absorbed), account_features(ref))


def test_a_version_2_snapshot_counts_the_skeletons_it_holds() -> None:
    import msgspec

    st = AccountState()
    for e in _history(days=1):
        st.add(e)
    doc = msgspec.msgpack.decode(st.snapshot())
    doc["v"] = 2
    del doc["template_memory"]
    old = AccountState.restore(msgspec.msgpack.encode(doc))
    n = st.size
    assert np.array_equal(old.templates_seen[:n], st.templates_seen[:n])
    assert np.array_equal(old.top_template[:n], st.top_template[:n]) and old.top_template[st.ids["ring"]] == 8
