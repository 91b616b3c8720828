"""The response policy: which rung of the ladder a probability and its evidence earn, validated on load.

A policy is a versioned JSON file (the shipped one is ``policies/default.json``; ``--policy FILE`` on ``detect``
and ``evaluate``, ``POLICY_PATH`` for the worker). Each rung names the least calibrated probability, the least
number of independent evidence kinds, and optionally linking evidence, a cluster size and a request count it needs;
a subject gets the highest rung whose every condition holds (:func:`detector.ladder.decide`). Rules that protect
customers are checked here, so no policy file can break them: rungs climb in order and never ask for less
probability than the rung below, and every rung above ``watch`` needs at least one piece of evidence besides the
probability. An invalid file raises :class:`PolicyError` naming the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from distillguard.detector.records import Action, rank

FORMAT = "distillguard-policy/1"
DEFAULT_POLICY = Path(__file__).parent / "policies" / "default.json"
LAST_UNATTENDED = Action.watch  # rungs above this must rest on evidence besides the probability
CLUSTER_ONLY = (Action.takedown,)


class Rung(BaseModel):
    """What a subject needs to reach ``action``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action
    min_probability: float = Field(ge=0.0, le=1.0, description="Least calibrated probability of attack.")
    min_evidence: int = Field(0, ge=0, description="Least number of independent evidence kinds.")
    needs_linking: bool = Field(
        False, description="Needs linking evidence (payment, network, client, template, burst)."
    )
    min_cluster_size: int = Field(1, ge=1, description="Least accounts in the subject's cluster (1: none needed).")
    min_requests: int = Field(0, ge=0, description="Least requests seen from the subject.")

    def conditions(self) -> list[str]:
        """What a subject needs for this rung, in words (the console's decision flow)."""
        out = [f"probability of attack at least {self.min_probability:g}"]
        if self.min_evidence:
            out.append(
                f"at least {self.min_evidence} independent kind{'s' if self.min_evidence != 1 else ''} of evidence"
            )
        if self.needs_linking:
            out.append("evidence linking it to other accounts among them")
        if self.min_cluster_size > 1:
            out.append(f"a cluster of at least {self.min_cluster_size} accounts")
        if self.min_requests:
            out.append(f"at least {self.min_requests:,} requests")
        return out


class Policy(BaseModel):
    """A validated response policy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["distillguard-policy/1"]
    version: str = Field(min_length=1, description="Recorded in every enforcement event and its idempotency key.")
    few_requests: int = Field(
        ge=1, description="An account with fewer requests and no linking evidence never goes above watch."
    )
    shadow: bool = Field(True, description="The stream publishes would_<action> only; nothing is enforced.")
    automate: list[Action] = Field(description="Rungs the stream publishes to enforcement-actions.")
    confirm: list[Action] = Field(description="Automated rungs published only as requests for a lead's confirmation.")
    accounts: list[Rung] = Field(min_length=1)
    clusters: list[Rung] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Policy:
        for where, rungs in (("accounts", self.accounts), ("clusters", self.clusters)):
            for i, r in enumerate(rungs):
                if r.action == Action.none:
                    raise ValueError(f"{where}.{i}.action: none is where no rung is reached, not a rung")
                if where == "accounts" and r.action in CLUSTER_ONLY:
                    raise ValueError(f"{where}.{i}.action: {r.action} is for clusters only")
                if rank(r.action) > rank(LAST_UNATTENDED) and r.min_evidence < 1:
                    raise ValueError(
                        f"{where}.{i}.min_evidence: {r.action} must rest on at least one piece of evidence, "
                        "never on the probability alone"
                    )
                if i and rank(r.action) <= rank(rungs[i - 1].action):
                    raise ValueError(f"{where}.{i}.action: rungs must climb the ladder ({rungs[i - 1].action} first)")
                if i and r.min_probability < rungs[i - 1].min_probability:
                    raise ValueError(
                        f"{where}.{i}.min_probability: {r.action} asks for less probability than {rungs[i - 1].action}"
                    )
        for i, a in enumerate(self.automate):
            if rank(a) <= rank(Action.none):
                raise ValueError(f"automate.{i}: {a} is not an action to publish")
        for i, a in enumerate(self.confirm):
            if a not in self.automate:
                raise ValueError(f"confirm.{i}: {a} is not in automate")
        return self

    def evidence_from(self, rungs: list[Rung]) -> float:
        """The least probability at which any of ``rungs`` asks for evidence (below it, none is gathered)."""
        return min((r.min_probability for r in rungs if r.min_evidence or r.needs_linking), default=1.0)

    def automated(self, action: Action) -> Action:
        """What is enforced for a subject at ``action``: the highest automated rung at or below it (``none`` if no
        such rung). A subject put up for review above ``throttle`` stays throttled meanwhile."""
        below = [a for a in self.automate if rank(a) <= rank(action)]
        return max(below, key=rank, default=Action.none)


class PolicyError(ValueError):
    """A policy file that cannot be used: unreadable, not JSON, or invalid (the message names the field)."""


def _where(loc: tuple) -> str:
    return ".".join(str(p) for p in loc) or "(file)"


def parse_policy(raw: bytes | str, source: str = "policy") -> Policy:
    """Validate a policy document; raise :class:`PolicyError` naming the first field at fault."""
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise PolicyError(f"{source}: not JSON ({exc})") from None
    try:
        return Policy.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        msg = first["msg"].removeprefix("Value error, ")
        where = _where(first["loc"])
        raise PolicyError(
            f"{source}: {msg}" if where == "(file)" and ": " in msg else f"{source}: {where}: {msg}"
        ) from None


def load_policy(path: str | Path | None = None) -> Policy:
    """Read a policy file (default: the one shipped in the package)."""
    path = Path(path) if path else DEFAULT_POLICY
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return parse_policy(raw, str(path))
