"""Per-request signals: cue flags and template skeletons, whatever the prompt's length and however often it recurs."""

from __future__ import annotations

import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from distillguard.detector.signals import _CUES, TEXT, template_keys, text_flags

CUES = sorted({cue for cues in _CUES.values() for cue in cues})
PIECES = st.sampled_from(["Σ", "İ", "ΟΔΟΣ", " ", "\n\t", "word", "42", "step", "BY", "re"])
# lengths at the edges of the windows read: skeletons (40, 160), remembered prompts (200), cue scans (1600)
EDGES = (39, 40, 41, 159, 160, 161, 162, 199, 200, 201, 204, 320, 1599, 1600, 1601, 1604)


def _prompt(pieces: list[str], cue: str, length: int, cue_last: bool, upper: bool) -> str:
    """Filler (whitespace, text, parts of cues) cut to ``length``, with ``cue`` at its end or its start."""
    body = "".join(pieces) or "w"
    body = (body * (length // len(body) + 1))[: max(length - len(cue), 0)]
    text = body + cue if cue_last else cue + body
    return text.upper() if upper else text


PROMPTS = st.builds(
    _prompt,
    st.lists(PIECES, max_size=30),
    st.sampled_from(CUES),
    st.one_of(st.sampled_from(EDGES), st.integers(1, 2500)),
    st.booleans(),
    st.booleans(),
)


def _keys_written_out(prompt: str) -> tuple[int, int]:
    """The skeleton keys as specified: the normalised first and last 40 characters of the opening and closing 160."""
    digits = bytes.maketrans(b"0123456789", b"##########")
    head = " ".join(prompt[:160].lower().split())[:40].encode().translate(digits)
    tail = " ".join(prompt[-160:].lower().split())[-40:].encode().translate(digits)
    return zlib.crc32(b"^" + head) | 1, zlib.crc32(b"$" + tail) | 1


def _flags_written_out(prompt: str) -> int:
    """The cue flags as specified: every category with a cue in the opening 1200 or closing 400 characters."""
    window = (prompt if len(prompt) <= 1600 else prompt[:1200] + "\n" + prompt[-400:]).lower()
    return TEXT | sum(flag for flag, cues in _CUES.items() if any(cue in window for cue in cues))


@settings(max_examples=500)
@given(PROMPTS)
def test_template_keys_are_the_normalised_opening_and_closing(prompt: str) -> None:
    assert template_keys(prompt) == _keys_written_out(prompt)


@settings(max_examples=500)
@given(PROMPTS)
def test_cue_flags_are_the_same_on_first_sight_and_when_the_prompt_recurs(prompt: str) -> None:
    first = text_flags(prompt)
    assert first == _flags_written_out(prompt)
    assert text_flags(prompt) == first and text_flags("".join(list(prompt))) == first  # an equal, distinct string
