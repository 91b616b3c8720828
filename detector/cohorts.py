"""Behavioural neighbourhoods: the accounts whose request profile is closest to each account's.

An adaptive harvester buys aged accounts one by one, gives each its own card and address, paces them like people
and drops every tell-tale phrase. What it cannot drop is what it came for: long answers, reasoning, large token
budgets, one question per conversation, repeated over many accounts. Its accounts therefore sit close together in
behaviour space, and each one's nearest neighbours are its siblings: judged together, a hundred accounts of ten
requests each say what one account of ten requests cannot. This module finds those neighbours from request
metadata alone (no prompt text); the scoring model reads how harvest-like they are and how densely they crowd.

**Profile.** Every account with at least :data:`MIN_REQUESTS` requests is a point whose coordinates are the
:data:`PROFILE` features, each divided by its resolution (the difference worth one unit) and shrunk towards the
population median by :data:`PRIOR_REQUESTS` pseudo-requests, so that a five-request account is placed no more
confidently than its requests allow. Pacing, infrastructure and account age are left out on purpose: they are
what the adaptive attacker varies per account.

**Neighbourhood.** Its :data:`NEIGHBOURS` nearest accounts (Euclidean, k-d tree), and its density: how much
closer they are than a typical account's (log of the population's median radius over its own).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from distillguard.detector.features import IDX


@dataclass(frozen=True)
class Dimension:
    """One profile coordinate: a feature, the difference worth one unit, and how an analyst reads it."""

    feature: str
    resolution: float
    label: str
    unit: str  # "share": a share of requests; "tokens": a mean of log(1 + tokens); "spread": a std of logs


PROFILE: tuple[Dimension, ...] = (
    Dimension("share_reasoning_requested", 0.15, "reasoning requested", "share"),
    Dimension("log_mean_output", 0.5, "typical output", "tokens"),
    Dimension("std_log_output", 0.3, "spread of output lengths", "spread"),
    Dimension("mean_log_max_tokens", 0.7, "typical max_tokens", "tokens"),
    Dimension("share_multi_turn", 0.15, "follow-up messages", "share"),
    Dimension("log_mean_input", 0.6, "typical input", "tokens"),
    Dimension("share_stop_max_tokens", 0.15, "answers cut at max_tokens", "share"),
    Dimension("share_system_prompt", 0.2, "system prompt sent", "share"),
    Dimension("share_tools", 0.2, "tools offered", "share"),
)
PROFILE_COLUMNS = tuple(IDX[d.feature] for d in PROFILE)  # their columns in the feature matrix
MIN_REQUESTS = 5  # fewer requests place an account too vaguely to say who it resembles
PRIOR_REQUESTS = 3.0  # pseudo-requests at the population median added to every account's profile
NEIGHBOURS = 8  # accounts in a neighbourhood
MIN_RADIUS = (
    0.1  # a neighbourhood is at least this wide (resolution units): identical profiles are not infinitely dense
)
NONE = -1  # neighbour index of an account with too few requests


@dataclass(frozen=True)
class Neighbourhoods:
    """Per account: the indices of its nearest accounts by profile (``NONE`` when it has too few requests)
    and its density (log of the typical radius over its own; 0 when it has too few requests)."""

    neighbours: np.ndarray  # n x NEIGHBOURS
    density: np.ndarray

    def extended(self, n: int) -> Neighbourhoods:
        """The same neighbourhoods over ``n`` accounts (accounts seen since have none yet)."""
        k = n - len(self.density)
        if k <= 0:
            return self
        return Neighbourhoods(
            np.vstack([self.neighbours, np.full((k, NEIGHBOURS), NONE, dtype=np.int64)]),
            np.concatenate([self.density, np.zeros(k)]),
        )

    def subset(self, rows: np.ndarray) -> Neighbourhoods:
        """The neighbourhoods of ``rows`` (a boolean mask), neighbours outside them dropped (``NONE``)."""
        new = np.full(len(rows) + 1, NONE, dtype=np.int64)  # old index -> new; the extra slot maps NONE
        new[np.flatnonzero(rows)] = np.arange(int(rows.sum()))
        return Neighbourhoods(new[self.neighbours[rows]], self.density[rows])

    def to_doc(self) -> dict:
        """Plain-data form for snapshots."""
        return {"neighbours": self.neighbours.tolist(), "density": self.density.tolist()}

    @classmethod
    def from_doc(cls, doc: dict) -> Neighbourhoods:
        """Inverse of :meth:`to_doc`."""
        nb = np.asarray(doc["neighbours"], dtype=np.int64).reshape(-1, NEIGHBOURS)
        return cls(nb, np.asarray(doc["density"], dtype=float))

    def shifted(self, offset: int) -> Neighbourhoods:
        """The same neighbourhoods with account indices moved by ``offset`` (stacking several states)."""
        nb = np.where(self.neighbours == NONE, NONE, self.neighbours + offset)
        return Neighbourhoods(nb, self.density)


def empty(n: int) -> Neighbourhoods:
    """``n`` accounts without neighbourhoods."""
    return Neighbourhoods(np.full((n, NEIGHBOURS), NONE, dtype=np.int64), np.zeros(n))


def profile(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(profile points in resolution units, eligible mask) for feature matrix rows ``X``."""
    n = np.expm1(X[:, IDX["log_requests"]])
    eligible = n >= MIN_REQUESTS
    cols = X[:, list(PROFILE_COLUMNS)]
    if eligible.any():
        median = np.median(cols[eligible], axis=0)
        w = (n / (n + PRIOR_REQUESTS))[:, None]
        cols = w * cols + (1 - w) * median
    return cols / np.array([d.resolution for d in PROFILE]), eligible


def neighbourhoods(X: np.ndarray) -> Neighbourhoods:
    """The behavioural neighbourhood of every account of feature matrix ``X`` (columns as FEATURES)."""
    out = empty(len(X))
    P, eligible = profile(X)
    idx = np.flatnonzero(eligible)
    if len(idx) <= NEIGHBOURS:
        return out
    dist, nn = cKDTree(P[idx]).query(P[idx], k=NEIGHBOURS + 1)  # the first neighbour is the account itself
    radius = np.maximum(dist[:, -1], MIN_RADIUS)
    out.neighbours[idx] = idx[nn[:, 1:]]
    out.density[idx] = np.log(np.median(radius) / radius)
    return out


def neighbour_mean(hoods: Neighbourhoods, p: np.ndarray) -> np.ndarray:
    """Mean of ``p`` over each account's neighbours (its own ``p`` when it has none)."""
    nb = hoods.neighbours
    has = nb != NONE
    total = np.where(has, p[np.where(has, nb, 0)], 0.0).sum(axis=1)
    count = has.sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), p)
