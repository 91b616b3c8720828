"""Cross-account linking: a weighted evidence graph over shared indicators, cut into clusters.

Two accounts are linked when the evidence they share adds up to ``link_threshold``: a payment
instrument or API key alone suffices; an IP (or, more weakly, a subnet) needs a second kind of
evidence: the same client (TLS + user agent), a creation burst through the same verification path,
or shared prompt templates; a shared repertoire of several templates links on its own (that is all
that ties a low-and-slow campaign together). So a reseller's customers who merely share the proxy's IPs, or strangers
on the same browser build, are not pulled into a hydra; an enterprise behind one NAT paying with one
card *is* linked, and it is the scoring model, using cluster behaviour (org, business hours,
varied multi-turn work), that tells it from a hydra.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from detector.state import AccountState

HOUR = 3600.0
# Evidence weight of sharing at least one value of each kind.
WEIGHTS = {"card": 3.0, "api_key": 3.0, "ip": 1.5, "subnet": 0.75, "client": 1.0, "burst": 1.0, "template": 0.75}
# Per shared template skeleton (an opening or a closing); capped, so that one identical prompt (2
# skeletons) does not link strangers alone while a campaign's repertoire (3+ skeletons) does.
MAX_TEMPLATE_SKELETONS = 3
BURST_BUCKET_HOURS = 6.0


@dataclass
class Linkage:
    """Clusters over the accounts of a state (``labels[i] == -1``: not linked to anyone)."""

    labels: np.ndarray
    n_clusters: int
    weights: sparse.csr_matrix  # account x account evidence weight (upper + lower)
    incidence: dict[str, sparse.csr_matrix] = field(default_factory=dict)  # kind -> account x value (0/1)
    values: dict[str, list[str]] = field(default_factory=dict)  # kind -> value labels, by column

    def members(self) -> list[np.ndarray]:
        """Member account indices of each cluster."""
        order = np.argsort(self.labels, kind="stable")
        lab = self.labels[order]
        starts = np.searchsorted(lab, np.arange(self.n_clusters))
        ends = np.searchsorted(lab, np.arange(self.n_clusters), side="right")
        return [order[s:e] for s, e in zip(starts, ends, strict=True)]


def _incidence(acct: np.ndarray, value: np.ndarray, n_acc: int, max_df: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Binary account x value matrix over the values shared by 2..max_df accounts; and kept value ids."""
    if len(acct) == 0:
        return sparse.csr_matrix((n_acc, 0)), np.zeros(0, dtype=np.int64)
    uniq, inv, df = np.unique(value, return_inverse=True, return_counts=True)
    keep = (df >= 2) & (df <= max_df)
    col_of = np.full(len(uniq), -1)
    col_of[keep] = np.arange(int(keep.sum()))
    cols = col_of[inv]
    ok = cols >= 0
    m = sparse.csr_matrix((np.ones(int(ok.sum())), (acct[ok], cols[ok])), shape=(n_acc, int(keep.sum())))
    m.sum_duplicates()
    m.data[:] = 1.0
    return m, uniq[keep]


def _burst_values(state: AccountState) -> tuple[np.ndarray, np.ndarray]:
    """Creation-burst memberships: (account, bucket id) for two 6-hour bucketings offset by 3 hours."""
    created = state.col("created")
    path = state.col("verification").astype(np.int64)
    ok = ~np.isnan(created)
    idx = np.nonzero(ok)[0]
    if len(idx) == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z
    b = BURST_BUCKET_HOURS * HOUR
    k0 = (np.floor(created[idx] / b).astype(np.int64) * 2) * 8 + (path[idx] + 1)
    k1 = (np.floor((created[idx] + b / 2) / b).astype(np.int64) * 2 + 1) * 8 + (path[idx] + 1)
    return np.concatenate([idx, idx]), np.concatenate([k0, k1])


def link_accounts(state: AccountState, link_threshold: float = 2.0, max_df_share: float = 0.25) -> Linkage:
    """Build the evidence graph and its connected components at ``link_threshold``."""
    n_acc = state.size
    max_df = max(50, int(max_df_share * n_acc))
    inc: dict[str, sparse.csr_matrix] = {}
    kept: dict[str, np.ndarray] = {}
    for kind in ("card", "api_key", "ip", "subnet", "client"):
        a, v, _ = state.pairs(state.links[kind], 32)
        inc[kind], kept[kind] = _incidence(a, v, n_acc, max_df)
    a, v = _burst_values(state)
    inc["burst"], kept["burst"] = _incidence(a, v, n_acc, max_df)
    a, v, _ = state.pairs(state.templates, 32)
    inc["template"], kept["template"] = _incidence(a, v, n_acc, max_df)

    def shared(kind: str) -> sparse.csr_matrix:
        m = inc[kind]
        return (m @ m.T).tocsr()

    W = sparse.csr_matrix((n_acc, n_acc))
    for kind in ("card", "api_key", "client", "burst"):
        s = shared(kind)
        s.data[:] = WEIGHTS[kind]
        W = W + s
    ip, sub = shared("ip"), shared("subnet")
    ip.data[:] = WEIGHTS["ip"]
    sub.data[:] = WEIGHTS["subnet"]
    W = W + ip.maximum(sub)
    tpl = shared("template")
    tpl.data = np.minimum(tpl.data, MAX_TEMPLATE_SKELETONS) * WEIGHTS["template"]
    W = (W + tpl).tocsr()
    W.setdiag(0)
    W.eliminate_zeros()

    strong = W.copy()
    strong.data = (strong.data >= link_threshold).astype(np.float64)
    strong.eliminate_zeros()
    _, comp = connected_components(strong, directed=False)
    sizes = np.bincount(comp)
    linked = sizes[comp] >= 2
    labels = np.full(n_acc, -1, dtype=np.int64)
    uniq, dense = np.unique(comp[linked], return_inverse=True)
    labels[linked] = dense
    values = {kind: [str(x) for x in kept[kind].tolist()] for kind in kept}
    return Linkage(labels=labels, n_clusters=len(uniq), weights=W, incidence=inc, values=values)
