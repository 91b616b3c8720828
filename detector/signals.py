"""Per-request signals: what a prompt asks for, its template skeleton, and network keys.

Text cues describe *behaviour* (asking for the reasoning, grading against a rubric, driving tools,
rewriting) in several languages, not particular sentences. They are matched in one Aho-Corasick pass
over the head and tail of the prompt only, so cost stays bounded for megabyte prompts.
"""

from __future__ import annotations

import ipaddress
import zlib
from functools import lru_cache

import ahocorasick

# Bit flags of a request's signals.
REASONING = 1  # elicits step-by-step reasoning / a chain of thought
AGENTIC = 2  # agentic coding or tool-use transcript harvesting
GRADING = 4  # the model used as a judge / reward model
REWRITE = 8  # rewrite / paraphrase / "answer as if" transformations
TEXT = 16  # the request carried prompt text at all

# Cue phrases per category, matched case-insensitively as substrings (Aho-Corasick, one pass in C).
# They describe behaviour in several languages; they are not a list of any dataset's sentences.
_CUES: dict[int, tuple[str, ...]] = {
    REASONING: (
        "step by step",
        "step-by-step",
        "one step at a time",
        "each step",
        "every step",
        "all steps",
        "all the steps",
        "show your work",
        "show all work",
        "show the work",
        "show your working",
        "show the steps",
        "show all steps",
        "reasoning",
        "reason through",
        "reason about",
        "reason it out",
        "chain of thought",
        "chain-of-thought",
        "thought process",
        "think through",
        "think aloud",
        "think out loud",
        "think carefully",
        "think step",
        "let's think",
        "lets think",
        "walk me through",
        "walk us through",
        "walk through",
        "explain your",
        "explain each",
        "explain how",
        "explain why",
        "justify",
        "derivation",
        "derive ",
        "rationale",
        "scratchpad",
        "scratch pad",
        "inner monologue",
        "intermediate steps",
        "before answering",
        "before you answer",
        "in detail",
        "一步一步",
        "逐步",
        "分步",
        "步骤",
        "推理",
        "思考过程",
        "思路",
        "详细解释",
        "详细说明",
        "详细推导",
        "解题过程",
        "推导",
        "ステップ",
        "段階的",
        "順を追って",
        "一歩ずつ",
        "思考",
        "理由を",
        "단계별",
        "단계적",
        "추론",
        "풀이 과정",
        "paso a paso",
        "razonamiento",
        "razona",
        "explica tu",
        "explica cada",
        "passo a passo",
        "raciocínio",
        "passo dopo passo",
        "ragionamento",
        "étape par étape",
        "raisonnement",
        "raisonne",
        "explique ton",
        "explique ta",
        "explique chaque",
        "démarche",
        "schritt für schritt",
        "schritt-für-schritt",
        "schrittweise",
        "gedankengang",
        "begründ",
        "denkweg",
        "lösungsweg",
        "шаг за шагом",
        "пошагово",
        "рассужд",
        "ход мысли",
        "ход решения",
        "объясни",
        "adım adım",
        "krok po kroku",
        "stap voor stap",
        "langkah demi langkah",
        "từng bước",
    ),
    AGENTIC: (
        "tool call",
        "tool_call",
        "tool use",
        "tool_use",
        "tool result",
        "tool_result",
        "function call",
        "function_call",
        "<tool",
        "terminal",
        "shell command",
        "bash",
        "run the tests",
        "unit test",
        "repository",
        " repo ",
        "pull request",
        "diff",
        "patch",
        "stack trace",
        "stacktrace",
        "traceback",
        "refactor",
        "implement the",
        "implement a ",
        "implement this",
        "fix the bug",
        "fix the failing",
        "agent",
        "trajectory",
        "transcript",
        "observation:",
        "action:",
        "工具",
        "代码库",
        "ツール",
        "herramienta",
        "werkzeug",
        "outil",
        "инструмент",
    ),
    GRADING: (
        "rubric",
        "grade this",
        "grade the",
        "grade each",
        "score this",
        "score the",
        "score each",
        "score from",
        "score between",
        "score on",
        "rate this",
        "rate the",
        "rate each",
        "on a scale",
        "1-10",
        "1 to 10",
        "1–10",
        "which response is better",
        "which answer is better",
        "which completion is better",
        "preferred response",
        "preferred answer",
        "evaluate the response",
        "evaluate this response",
        "evaluate the answer",
        "judge",
        "reward",
        "評価",
        "评分",
        "打分",
        "评估",
        "評分",
        "calificaci",
        "puntúa",
        "puntuación",
        "bewerte",
        "bewertung",
        "évalue",
        "note sur",
        "оцени",
        "оценк",
    ),
    REWRITE: (
        "rewrite",
        "re-write",
        "rephrase",
        "paraphrase",
        "reword",
        "as if you were",
        "pretend you",
        "pretend to be",
        "without warnings",
        "without the warning",
        "without disclaimers",
        "without the disclaimer",
        "without refus",
        "改写",
        "重写",
        "换一种说法",
        "言い換え",
        "書き直",
        "reformula",
        "reescrib",
        "umformulier",
        "umschreib",
        "reformule",
        "réécri",
        "перефраз",
        "перепиши",
    ),
}


def _automaton() -> ahocorasick.Automaton:
    auto = ahocorasick.Automaton()
    merged: dict[str, int] = {}
    for flag, cues in _CUES.items():
        for cue in cues:
            merged[cue] = merged.get(cue, 0) | flag
    for cue, flag in merged.items():
        auto.add_word(cue, flag)
    auto.make_automaton()
    return auto


_AUTO = _automaton()
HEAD, TAIL = 1200, 400
# Short prompts recur across accounts and requests (chat follow-ups such as "why?" or "thanks!", retried requests):
# the cues of the last SHORT_PROMPTS distinct ones up to SHORT_PROMPT_CHARS long are remembered (under 4 MB of text).
SHORT_PROMPT_CHARS = 200
SHORT_PROMPTS = 4096


def _cues(text: str) -> int:
    """Signal bits of one text: its opening ``HEAD`` and closing ``TAIL`` characters are scanned."""
    window = text if len(text) <= HEAD + TAIL else text[:HEAD] + "\n" + text[-TAIL:]
    flags = 0
    for _, flag in _AUTO.iter(window.lower()):
        flags |= flag
    return flags


# An app backend sends the same system prompt with every request: scan each distinct one once.
_system_cues = lru_cache(maxsize=4096)(_cues)
_short_cues = lru_cache(maxsize=SHORT_PROMPTS)(_cues)


def text_flags(prompt: str | None, system_prompt: str | None = None) -> int:
    """Signal bits found in the prompt (and system prompt); ``TEXT`` is set when any text is present."""
    if not prompt and not system_prompt:
        return 0
    flags = TEXT
    if prompt:
        flags |= _short_cues(prompt) if len(prompt) <= SHORT_PROMPT_CHARS else _cues(prompt)
    if system_prompt:
        flags |= _system_cues(system_prompt)
    return flags


# Digits are ASCII, and UTF-8 never encodes other characters with ASCII bytes, so mapping them on the
# encoded bytes is the same as on the text (and several times faster than ``str.translate``).
_DIGITS = bytes.maketrans(b"0123456789", b"##########")
SKELETON_CHARS = 40
SKELETON_WINDOW = 160  # characters of the prompt's opening (and closing) a skeleton is read from


def template_keys(prompt: str | None) -> tuple[int, int]:
    """Fingerprints of the prompt's skeleton: hashes of its opening and of its closing characters.

    A campaign fills a few templates with varied questions, so either the opening ("Please solve the
    following and show every step: ...") or the closing ("... Explain your reasoning before answering.")
    repeats while the middle varies. Case, whitespace runs and digits are normalised away; it works
    the same for any script. ``(0, 0)`` when there is no text.
    """
    if not prompt:
        return 0, 0
    opening = " ".join(prompt[:SKELETON_WINDOW].lower().split())
    # a prompt no longer than the window is its own opening and closing: normalised once
    closing = opening if len(prompt) <= SKELETON_WINDOW else " ".join(prompt[-SKELETON_WINDOW:].lower().split())
    head = opening[:SKELETON_CHARS].encode()
    tail = closing[-SKELETON_CHARS:].encode()
    return zlib.crc32(b"^" + head.translate(_DIGITS)) | 1, zlib.crc32(b"$" + tail.translate(_DIGITS)) | 1


@lru_cache(maxsize=200_000)
def subnet_of(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) network of an address; the address itself if it does not parse."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if addr.version == 4:
        return str(ipaddress.ip_network(f"{ip}/24", strict=False))
    return str(ipaddress.ip_network(f"{addr}/48", strict=False))
