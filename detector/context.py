"""Cluster-context features: how an account's cluster behaves as a whole.

A hydra's members are each light, but together they run around the clock on one client build from a
rotating IP pool, created in a burst; a university class or an enterprise is linked just as tightly
but works office or class hours, multi-turn, on many browsers, under one organisation.
"""

from __future__ import annotations

import numpy as np

from distillguard.detector.cohorts import Neighbourhoods, neighbour_mean
from distillguard.detector.features import IDX, hour_entropy
from distillguard.detector.linking import Linkage
from distillguard.detector.signals import REASONING
from distillguard.detector.state import MULTI_TURN, REASONING_REQ, VALUE_BITS, AccountState
from distillguard.detector.units import HOUR

STATIC: tuple[str, ...] = (
    "c_log_size",
    "c_client_diversity",
    "c_log_ips_per_member",
    "c_cards_per_member",
    "c_log_created_span_hours",
    "c_farm_path_share",
    "c_top_org_share",
    "c_hour_entropy",
    "c_multi_turn_share",
    "c_mean_log_output",
    "c_reasoning_share",
    "c_template_share",
    "c_log_shared_keys",
    "c_log_burst_size",
    "c_log_requests_per_member",
    "k_density",
)
# No cluster minimum: one ordinary customer inside a cluster (a reseller's client on a hydra's IPs) would set it to 0,
# and a model that learnt "attack clusters are uniformly harvest-like" would then clear the whole hydra.
BEHAVIOUR: tuple[str, ...] = ("c_mean_behaviour", "c_share_behaviour_high", "k_mean_behaviour")
FARM_PATHS = ("path_education", "path_research", "path_startup")


def groups_of(link: Linkage) -> np.ndarray:
    """Group id per account: its cluster, or a group of its own when unlinked."""
    g = link.labels.copy()
    solo = g < 0
    g[solo] = link.n_clusters + np.arange(int(solo.sum()))
    return g


def _per_group_distinct(groups: np.ndarray, acct: np.ndarray, value: np.ndarray, n_groups: int) -> np.ndarray:
    if len(acct) == 0:
        return np.zeros(n_groups)
    key = np.unique((groups[acct].astype(np.int64) << VALUE_BITS) | value)
    return np.bincount(key >> VALUE_BITS, minlength=n_groups).astype(np.float64)


def static_context(state: AccountState, link: Linkage, hoods: Neighbourhoods, X: np.ndarray) -> np.ndarray:
    """Cluster features that do not depend on any model, broadcast to each member, and the density of each
    account's behavioural neighbourhood (shape n x len(STATIC))."""
    n_acc = state.size
    g = groups_of(link)
    ng = int(g.max()) + 1 if n_acc else 0
    size = np.bincount(g, minlength=ng).astype(np.float64)
    n = state.col("n").astype(np.float64)
    req = np.bincount(g, weights=n, minlength=ng)
    out = np.zeros((n_acc, len(STATIC)))
    if n_acc == 0:
        return out

    def put(name: str, per_group: np.ndarray) -> None:
        out[:, STATIC.index(name)] = per_group[g]

    put("c_log_size", np.log1p(size))
    for kind, name in (("client", "c_client_diversity"), ("card", "c_cards_per_member")):
        a, v, _ = state.links[kind].split(VALUE_BITS)
        put(name, _per_group_distinct(g, a, v, ng) / size)
    a, v, _ = state.links["ip"].split(VALUE_BITS)
    put("c_log_ips_per_member", np.log1p(_per_group_distinct(g, a, v, ng) / size))
    created = state.col("created")
    has = ~np.isnan(created)
    ch = np.where(has, created / HOUR, 0.0)
    cnt = np.bincount(g, weights=has.astype(float), minlength=ng)
    mean = np.bincount(g, weights=ch, minlength=ng) / np.maximum(cnt, 1)
    var = np.bincount(g, weights=np.where(has, (ch - mean[g]) ** 2, 0.0), minlength=ng) / np.maximum(cnt, 1)
    put("c_log_created_span_hours", np.where(cnt > 1, np.log1p(np.sqrt(var)), -1.0))
    farm = sum(X[:, IDX[p]] for p in FARM_PATHS)
    put("c_farm_path_share", np.bincount(g, weights=farm, minlength=ng) / size)
    org = state.col("org")
    top_org = np.zeros(ng)
    if (org >= 0).any():
        ok = org >= 0
        keys, counts = np.unique((g[ok].astype(np.int64) << VALUE_BITS) | org[ok], return_counts=True)
        np.maximum.at(top_org, keys >> VALUE_BITS, counts)
    put("c_top_org_share", top_org / size)
    hours = np.empty((ng, 24))  # requests by hour of day per group, filled an hour at a time
    for h, col in enumerate(state.hour_hist().T):
        hours[:, h] = np.bincount(g, weights=col, minlength=ng)
    put("c_hour_entropy", hour_entropy(hours))
    put("c_multi_turn_share", np.bincount(g, weights=state.flag_count(MULTI_TURN), minlength=ng) / np.maximum(req, 1))
    put("c_mean_log_output", np.bincount(g, weights=state.col("log_out"), minlength=ng) / np.maximum(req, 1))
    reasoning = np.maximum(state.flag_count(REASONING), state.flag_count(REASONING_REQ))
    put("c_reasoning_share", np.bincount(g, weights=reasoning, minlength=ng) / np.maximum(req, 1))
    put("c_template_share", np.bincount(g, weights=link.shares_template.astype(float), minlength=ng) / size)
    put("c_log_requests_per_member", np.log1p(req / size))
    out[:, STATIC.index("c_log_shared_keys")] = np.log1p(link.shared_keys)
    out[:, STATIC.index("c_log_burst_size")] = np.log1p(link.burst_size)
    out[:, STATIC.index("k_density")] = hoods.density
    return out


def behaviour_context(groups: np.ndarray, hoods: Neighbourhoods, p: np.ndarray, high: float = 0.5) -> np.ndarray:
    """Cluster aggregates of the per-account behaviour score ``p``, and its mean over each account's behavioural
    neighbours (shape n x len(BEHAVIOUR))."""
    ng = int(groups.max()) + 1 if len(groups) else 0
    size = np.bincount(groups, minlength=ng).astype(np.float64)
    mean = np.bincount(groups, weights=p, minlength=ng) / np.maximum(size, 1)
    share = np.bincount(groups, weights=(p >= high).astype(float), minlength=ng) / np.maximum(size, 1)
    if not len(groups):
        return np.zeros((0, len(BEHAVIOUR)))
    return np.column_stack([mean[groups], share[groups], neighbour_mean(hoods, p)])
