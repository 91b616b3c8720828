"""Cross-account linking: evidence rules over shared indicators, cut into clusters.

Two accounts are linked when they share the key of a rule; clusters are the connected components of
the account-key graph, so the cost is linear in the evidence, however large a hydra grows. Every
rule needs either an instrument that identifies an operator (a payment instrument, an API key) or
two independent kinds of evidence:

======================  =======================================================================
rule                    why it is evidence of one operator
======================  =======================================================================
card                    one payment instrument
api_key                 one credential
ip+client               same address *and* same client build (TLS fingerprint + user agent)
ip+burst                same address, accounts created in the same 6 h through the same path
subnet+client+burst     a proxy pool's /24, one client build, one creation burst
client+burst            one client build, one creation burst through the same path
template+client         a prompt skeleton both repeat, sent from the same client build
template+ip             a prompt skeleton both repeat, sent from the same address
repertoire              the same two most-used prompt skeletons (each used at least twice)
======================  =======================================================================

A reseller's customers who merely share the proxy's IPs, or strangers on one browser build, are not
pulled into a hydra. An enterprise behind one NAT paying with one card *is* linked: telling it from a
hydra is the scoring model's job, from the cluster's behaviour (one organisation, office hours,
varied multi-turn work), which is what an analyst would look at too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from detector.state import AccountState

HOUR = 3600.0
BURST_BUCKET_HOURS = 6.0
# A prompt skeleton used by more than 1% of all accounts (at least 20) is a popular one: a framework's
# default, a viral prompt. It says nothing about who operates an account, so template rules skip it;
# a campaign that large is caught by the infrastructure rules instead.
POPULAR_TEMPLATE_SHARE = 0.01
POPULAR_TEMPLATE_MIN = 20
RULES = ("card", "api_key", "ip+client", "ip+burst", "subnet+client+burst", "client+burst", "template+client", "template+ip", "repertoire")
_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class Linkage:
    """Clusters over the accounts of a state (``labels[i] == -1``: not linked to anyone)."""

    labels: np.ndarray
    n_clusters: int
    shared_keys: np.ndarray  # per account: how many shared rule keys it holds
    rule_members: dict[str, np.ndarray]  # rule -> accounts holding a shared key of that rule
    burst_size: np.ndarray  # per account: accounts in its largest creation burst
    shares_template: np.ndarray  # per account: shares a prompt skeleton with another account

    def extended(self, n: int) -> Linkage:
        """The same clusters over ``n`` accounts (accounts seen since are not linked yet)."""
        k = n - len(self.labels)
        if k <= 0:
            return self
        pad = lambda a, v: np.concatenate([a, np.full(k, v, dtype=a.dtype)])  # noqa: E731
        return Linkage(pad(self.labels, -1), self.n_clusters, pad(self.shared_keys, 0), self.rule_members,
                       pad(self.burst_size, 0), pad(self.shares_template, False))

    def to_doc(self) -> dict:
        """Plain-data form for snapshots."""
        return {"labels": self.labels.tolist(), "n_clusters": self.n_clusters, "shared_keys": self.shared_keys.tolist(),
                "rule_members": {r: m.tolist() for r, m in self.rule_members.items()}, "burst_size": self.burst_size.tolist(),
                "shares_template": self.shares_template.tolist()}

    @classmethod
    def from_doc(cls, doc: dict) -> Linkage:
        """Inverse of :meth:`to_doc`."""
        return cls(np.asarray(doc["labels"], dtype=np.int64), doc["n_clusters"], np.asarray(doc["shared_keys"], dtype=float),
                   {r: np.asarray(m, dtype=np.int64) for r, m in doc["rule_members"].items()},
                   np.asarray(doc["burst_size"], dtype=float), np.asarray(doc["shares_template"], dtype=bool))

    def members(self) -> list[np.ndarray]:
        """Member account indices of each cluster."""
        order = np.argsort(self.labels, kind="stable")
        lab = self.labels[order]
        starts = np.searchsorted(lab, np.arange(self.n_clusters))
        ends = np.searchsorted(lab, np.arange(self.n_clusters), side="right")
        return [order[s:e] for s, e in zip(starts, ends, strict=True)]


def _mix(*cols: np.ndarray) -> np.ndarray:
    h = np.zeros(len(cols[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for c in cols:
            h = (h ^ c.astype(np.uint64)) * _MIX
            h ^= h >> np.uint64(29)
    return h.view(np.int64)


def _cross(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-account cross product of two (account, value) relations: (account, value_a, value_b)."""
    (aa, av), (ba, bv) = a, b
    if len(aa) == 0 or len(ba) == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z, z
    o = np.argsort(aa, kind="stable")
    aa, av = aa[o], av[o]
    lo = np.searchsorted(aa, ba, side="left")
    hi = np.searchsorted(aa, ba, side="right")
    cnt = hi - lo
    rep_b = np.repeat(np.arange(len(ba)), cnt)
    starts = np.repeat(lo, cnt)
    offs = np.arange(len(rep_b)) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    ia = starts + offs
    return ba[rep_b], av[ia], bv[rep_b]


def _bursts(state: AccountState) -> tuple[np.ndarray, np.ndarray]:
    """(account, burst id): two 6-hour creation buckets offset by 3 hours, per verification path."""
    created = state.col("created")
    path = state.col("verification").astype(np.int64)
    idx = np.nonzero(~np.isnan(created))[0]
    b = BURST_BUCKET_HOURS * HOUR
    k0 = (np.floor(created[idx] / b).astype(np.int64) * 2) * 8 + (path[idx] + 1)
    k1 = (np.floor((created[idx] + b / 2) / b).astype(np.int64) * 2 + 1) * 8 + (path[idx] + 1)
    return np.concatenate([idx, idx]), np.concatenate([k0, k1])


def _repertoire(a: np.ndarray, k: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(account, key of its two most-used prompt skeletons), for accounts repeating two skeletons."""
    rep = c >= 2
    a, k, c = a[rep], k[rep], c[rep]
    if len(a) == 0:
        z = np.zeros(0, dtype=np.int64)
        return z, z
    o = np.lexsort((k, -c, a))
    a, k = a[o], k[o]
    first = np.ones(len(a), dtype=bool)
    first[1:] = a[1:] != a[:-1]
    pos = np.arange(len(a)) - np.maximum.accumulate(np.where(first, np.arange(len(a)), 0))
    top1 = pos == 0
    top2 = pos == 1
    acc2 = a[top2]
    k1 = k[top1][np.searchsorted(a[top1], acc2)]
    k2 = k[top2]
    return acc2, _mix(np.minimum(k1, k2), np.maximum(k1, k2))


def link_accounts(state: AccountState, max_df_share: float = 0.25) -> Linkage:
    """Apply the link rules and return the clusters (connected components of two or more accounts)."""
    n_acc = state.size
    max_df = max(50, int(max_df_share * n_acc))
    rel = {kind: state.pairs(state.links[kind], 32)[:2] for kind in ("card", "api_key", "ip", "subnet", "client")}
    rel["burst"] = _bursts(state)
    ta, tk, tc = state.pairs(state.templates, 32)
    if len(tk):
        _, tinv, tdf = np.unique(tk, return_inverse=True, return_counts=True)
        rare = tdf[tinv] <= max(POPULAR_TEMPLATE_MIN, POPULAR_TEMPLATE_SHARE * n_acc)
    else:
        rare = np.zeros(0, dtype=bool)
    habit = rare & (tc >= 2)  # a campaign's skeleton that the account itself repeats
    rel["template"] = (ta[habit], tk[habit])

    keys: dict[str, tuple[np.ndarray, np.ndarray]] = {
        "card": (rel["card"][0], _mix(np.full(len(rel["card"][0]), 1), rel["card"][1])),
        "api_key": (rel["api_key"][0], _mix(np.full(len(rel["api_key"][0]), 2), rel["api_key"][1])),
    }
    for i, (name, parts) in enumerate(
        (("ip+client", ("ip", "client")), ("ip+burst", ("ip", "burst")), ("client+burst", ("client", "burst")),
         ("template+client", ("template", "client")), ("template+ip", ("template", "ip"))), start=3,
    ):
        acct, va, vb = _cross(rel[parts[0]], rel[parts[1]])
        keys[name] = (acct, _mix(np.full(len(acct), i), va, vb))
    acct, vs, vc = _cross(rel["subnet"], rel["client"])
    acct2, vsc, vb = _cross((acct, _mix(vs, vc)), rel["burst"])
    keys["subnet+client+burst"] = (acct2, _mix(np.full(len(acct2), 9), vsc, vb))
    ra, rk = _repertoire(ta[rare], tk[rare], tc[rare])
    keys["repertoire"] = (ra, _mix(np.full(len(ra), 10), rk))

    all_a = np.concatenate([k[0] for k in keys.values()])
    all_k = np.concatenate([k[1] for k in keys.values()])
    rule_of = np.concatenate([np.full(len(k[0]), i) for i, k in enumerate(keys.values())])
    # one row per (account, key): rule keys are distinct across rules by construction
    _, first = np.unique(_mix(all_a, all_k), return_index=True)
    all_a, all_k, rule_of = all_a[first], all_k[first], rule_of[first]
    uk, inv, df = np.unique(all_k, return_inverse=True, return_counts=True)
    keep = (df[inv] >= 2) & (df[inv] <= max_df)
    pa, pk, pr = all_a[keep], inv[keep], rule_of[keep]
    n_keys = len(uk)
    graph = sparse.coo_matrix((np.ones(len(pa)), (pa, n_acc + pk)), shape=(n_acc + n_keys, n_acc + n_keys)).tocsr()
    _, comp = connected_components(graph, directed=False)
    comp = comp[:n_acc]
    sizes = np.bincount(comp)
    linked = sizes[comp] >= 2
    labels = np.full(n_acc, -1, dtype=np.int64)
    uniq, dense = np.unique(comp[linked], return_inverse=True)
    labels[linked] = dense

    rule_names = list(keys)
    rule_members = {r: np.unique(pa[pr == i]) for i, r in enumerate(rule_names)}
    burst_size = np.zeros(n_acc)
    ba, bv = rel["burst"]
    if len(ba):
        ub, binv, bdf = np.unique(bv, return_inverse=True, return_counts=True)
        np.maximum.at(burst_size, ba, bdf[binv])
    shares_template = np.zeros(n_acc, dtype=bool)
    if len(ta):
        _, tinv, tdf = np.unique(tk, return_inverse=True, return_counts=True)
        shares_template[ta[tdf[tinv] >= 2]] = True
    return Linkage(
        labels=labels, n_clusters=len(uniq), shared_keys=np.bincount(pa, minlength=n_acc).astype(float),
        rule_members=rule_members, burst_size=burst_size, shares_template=shares_template,
    )
