"""The response ladder: a rung for each account and cluster, in proportion to the evidence.

Trust-and-safety teams answer uncertainty with a ladder (``none`` < ``watch`` < ``challenge`` < ``throttle`` <
``review`` < ``suspend`` < ``takedown``) and automate only its cheap rungs. A subject's rung is the highest one of
the policy (:mod:`detector.policy`) whose conditions all hold: calibrated probability of attack, *evidence
strength* (the number of independent kinds of evidence), cluster size and requests seen.

The kinds, and what each means, are :data:`MEANING`; the linking ones (:data:`LINKING`) tie a subject to other
accounts, the others are its own behaviour (the account reasons of :mod:`detector.reasons`) and its behavioural
crowd (:mod:`detector.cohorts`).

Two rules hold whatever the policy says: an account with fewer than ``few_requests`` requests and no linking
evidence never goes above ``watch`` (a student's first questions are not enough to act on), and a rung above
``watch`` is only given with evidence to name (:data:`policy.LAST_UNATTENDED`). The basis of every action is a
list of sentences: the probability and the rule that applied, then each piece of evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from distillguard.detector.policy import LAST_UNATTENDED, Policy, Rung
from distillguard.detector.records import Action, rank


class EvidenceKind(StrEnum):
    """An independent kind of evidence (what each means: :data:`MEANING`)."""

    payment = "payment"
    network = "network"
    client = "client"
    template = "template"
    creation_burst = "creation burst"
    behaviour = "behaviour"
    crowd = "crowd"


LINKING = frozenset(
    {
        EvidenceKind.payment,
        EvidenceKind.network,
        EvidenceKind.client,
        EvidenceKind.template,
        EvidenceKind.creation_burst,
    }
)

MEANING: dict[EvidenceKind, str] = {
    EvidenceKind.payment: "its cluster shares payment instruments or API keys",
    EvidenceKind.network: (
        "its cluster shares IP addresses or /24 subnets; or, for an account in no cluster whose own behaviour stands "
        "out, most of its requests came through a flagged cluster's exits from that cluster's client build"
    ),
    EvidenceKind.client: "its cluster shares a client build (TLS fingerprint + user agent)",
    EvidenceKind.template: "its cluster repeats the same rare prompt templates",
    EvidenceKind.creation_burst: "its cluster's accounts were created within a few hours of each other",
    EvidenceKind.behaviour: "its own behaviour stands out (the reasons on its verdict)",
    EvidenceKind.crowd: "its nearest accounts by behaviour are harvest-like",
}


@dataclass(frozen=True)
class Evidence:
    """One piece of evidence: its kind and the sentence an analyst can check."""

    kind: EvidenceKind
    sentence: str


@dataclass(frozen=True)
class Subject:
    """What the ladder reads about an account or a cluster: the kinds of evidence it has, not yet their sentences
    (those are only written for the subjects that move or are reported)."""

    probability: float
    kinds: frozenset[EvidenceKind]
    cluster_size: int  # 1 for an account in no cluster
    requests: int

    @property
    def strength(self) -> int:
        """Independent evidence kinds."""
        return len(self.kinds)

    @property
    def linked(self) -> bool:
        """Whether any evidence links the subject to other accounts."""
        return bool(self.kinds & LINKING)


@dataclass(frozen=True)
class Decision:
    """A subject's rung, the policy rung that gave it (None for ``none``) and whether the few-requests rule held it
    at ``watch``."""

    action: Action
    rung: Rung | None
    capped: bool
    few_requests: int | None

    def basis(self, s: Subject, evidence: tuple[Evidence, ...]) -> list[str]:
        """The sentences the action rests on: the probability and the rule that applied, then each piece of
        ``evidence`` (``s``'s, in words); empty for ``none``."""
        r = self.rung
        if r is None:
            return []
        rule = (
            f"probability of attack {s.probability:.2f} (at least {r.min_probability:.2f} for {r.action}) "
            f"with {s.strength} independent kind{'s' if s.strength != 1 else ''} of evidence"
            + (f" (at least {r.min_evidence})" if r.min_evidence else "")
            + f", {s.requests:,} requests"
            + (f", cluster of {s.cluster_size} accounts" if s.cluster_size > 1 else "")
        )
        if self.capped:
            rule += f"; fewer than {self.few_requests} requests and nothing linking it to other accounts: at most watch"
        return [rule, *(f"{e.kind}: {e.sentence}" for e in evidence)]


def _holds(r: Rung, s: Subject) -> bool:
    return (
        s.probability >= r.min_probability
        and s.strength >= r.min_evidence
        and (s.linked or not r.needs_linking)
        and s.cluster_size >= r.min_cluster_size
        and s.requests >= r.min_requests
    )


def decide(rungs: list[Rung], s: Subject, few_requests: int | None = None) -> Decision:
    """The highest rung of ``rungs`` that ``s`` reaches. ``few_requests`` (accounts): below it, without linking
    evidence, nothing above ``watch``."""
    capped = few_requests is not None and s.requests < few_requests and not s.linked
    reached = [r for r in rungs if _holds(r, s) and not (capped and rank(r.action) > rank(LAST_UNATTENDED))]
    if not reached:
        return Decision(Action.none, None, False, few_requests)
    held = capped and any(_holds(r, s) and rank(r.action) > rank(LAST_UNATTENDED) for r in rungs)
    return Decision(reached[-1].action, reached[-1], held, few_requests)


def account_action(policy: Policy, s: Subject) -> Decision:
    """An account's rung under ``policy``."""
    return decide(policy.accounts, s, policy.few_requests)


def cluster_action(policy: Policy, s: Subject) -> Decision:
    """A cluster's rung under ``policy``."""
    return decide(policy.clusters, s)
