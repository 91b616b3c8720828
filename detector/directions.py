"""Which way each piece of evidence may move a score: the scoring model's monotone constraints.

A supervised model learns whatever separates the attacks it was shown from everyone else. Trained without
hydras, it learnt that a large cluster on shared cards, verified through the education programme and new to the
API, is a class doing homework, and cleared the next hydra (7% recall with hydras held out of training). Some
evidence should never count in an account's favour, whatever the training days happened to hold: sharing
infrastructure, farming a verification programme, asking for long reasoning answers, running round the clock.

Each row constrains the gradient-boosted stages to be monotone in one input: ``UP``, more of it never lowers the
score; ``DOWN``, more of it never raises it. Innocence must then come from behaviour (conversation, ordinary
budgets, office hours, an organisation), never from the attacker's infrastructure looking like a campus. Inputs
not listed are free: their direction depends on the rest (a shared system prompt is an app backend or a harvester).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

UP, DOWN, FREE = 1, -1, 0


@dataclass(frozen=True)
class Direction:
    """One input's constraint and why it holds for any harvester, seen in training or not."""

    name: str
    sign: int
    why: str


DIRECTIONS: tuple[Direction, ...] = (
    # The account's own requests: what harvesting needs.
    Direction("share_reasoning_requested", UP, "reasoning traces are what a distiller harvests"),
    Direction("share_reasoning_text", UP, "prompts that elicit step-by-step reasoning"),
    Direction("share_agentic_text", UP, "agentic transcripts are harvested for tool-use training"),
    Direction("share_grading_text", UP, "rubric grading uses the model as a reward model"),
    Direction("share_rewrite_text", UP, "rewrites of other text build paraphrase data"),
    Direction("log_mean_output", UP, "long answers are the product being copied"),
    Direction("log_output_input_ratio", UP, "short questions, long answers"),
    Direction("share_high_max_tokens", UP, "large output budgets"),
    Direction("mean_log_max_tokens", UP, "large output budgets"),
    Direction("share_multi_turn", DOWN, "follow-up messages are conversation, not collection"),
    Direction("share_new_model_after_release", UP, "moving traffic to a model as soon as it is released"),
    Direction("pivot_hours", DOWN, "the sooner the move to a new model, the more it looks like a harvesting pipeline"),
    Direction("hour_entropy", UP, "activity round the clock is machinery, not a person's day"),
    Direction("ips_per_request", UP, "addresses rotated from request to request"),
    Direction("share_429", UP, "pushing against the rate limit"),
    Direction("log_account_age_days", DOWN, "a new account is never evidence of innocence"),
    *(
        Direction(f"path_{p}", UP, "programmes that farms sign up through are never in an account's favour")
        for p in ("education", "research", "startup")
    ),
    # The account's cluster: linking evidence only incriminates.
    Direction("c_log_size", UP, "a larger linked group never clears its members"),
    Direction("c_client_diversity", DOWN, "one client build across many accounts"),
    Direction("c_cards_per_member", DOWN, "payment instruments shared across accounts"),
    Direction("c_log_created_span_hours", DOWN, "accounts created in a burst"),
    Direction("c_farm_path_share", UP, "members verified through farmed programmes"),
    Direction("c_hour_entropy", UP, "the cluster together runs round the clock"),
    Direction("c_multi_turn_share", DOWN, "the cluster converses"),
    Direction("c_mean_log_output", UP, "the cluster's answers are long"),
    Direction("c_reasoning_share", UP, "the cluster asks for reasoning"),
    Direction("c_log_shared_keys", UP, "more shared linking evidence"),
    Direction("c_log_burst_size", UP, "more accounts created together"),
    Direction("k_density", UP, "crowding with other accounts in behaviour space"),
    # Scores of others: harvest-like siblings and neighbours.
    Direction("c_mean_behaviour", UP, "the cluster's members behave like harvesters"),
    Direction("c_share_behaviour_high", UP, "the cluster's members behave like harvesters"),
    Direction("k_mean_behaviour", UP, "the nearest accounts by behaviour behave like harvesters"),
)
SIGN = {d.name: d.sign for d in DIRECTIONS}


def constraints(inputs: Sequence[str]) -> list[int]:
    """The ``monotonic_cst`` of a stage reading ``inputs`` (in order)."""
    return [SIGN.get(name, FREE) for name in inputs]
