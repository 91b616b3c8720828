"""Cross-account linking: a weighted evidence graph between accounts, cut into communities.

Accounts share *keys* of evidence rules (below). Each shared key adds its weight to the pair of
accounts holding it; network keys weigh less the more accounts hold them (:func:`popularity`: an
address + client build shared by 3 accounts says more about each pair than one shared by 300).

======================  ======  ===============================================================
rule                    weight  why it is evidence of one operator
======================  ======  ===============================================================
card                    --      one payment instrument (identity: links on its own)
api_key                 --      one credential (identity: links on its own)
ip+client               0.5     same address *and* same client build (TLS fingerprint + user agent)
ip+burst                1       same address, accounts created in the same 6 h through the same path
subnet+client+burst     0.5     a proxy pool's /24, one client build, one creation burst
client+burst            0.34    one client build, one creation burst through the same path
template                0.5     a rare prompt skeleton both accounts repeat
template+client         0.5     ... sent from the same client build
template+ip             0.5     ... sent from the same address
======================  ======  ===============================================================

Two accounts are *strongly linked* when they share an identity key or their shared keys weigh
:data:`STRONG_LINK` together. So one weak key links nobody: two hydras sharing a client build and a
creation day, or a reseller's customer who sends through a hydra's proxy IP now and then, stay apart,
while a hydra's accounts share many addresses and bursts. Template weights are scaled, per account, by
how much of its traffic the skeleton is (full from :data:`TEMPLATE_SHARE` of its requests) and by how
template-driven the account is (full when rare repeated skeletons are :data:`TEMPLATE_DRIVEN` of its
requests): someone who reuses a prompt twice in a day of free chat, or an app whose thousands of
requests cover a question bank, is not chained to others by it, while a low-and-slow ring, which shares
nothing but its templates, is linked by them. Skeletons used by more than 1% of the accounts never count.

Clusters are communities of the strong-link graph. Accounts sharing an identity key are one node; the
other keys are summed per pair of accounts with one sparse product (network keys held by more than
:data:`MAX_KEY_ACCOUNTS` accounts are left out: they identify no one, and would cost quadratically).
Inside each connected component of strong links, weighted label propagation over every node's
strongest links proposes communities, and two communities are merged back unless the cut between them
is sparse (:data:`MERGE_BACK`): a dense group that one or two accounts bridge to another (a campaign
template that an app's prompt happens to match) is cut there, while a uniformly knit hydra is kept
whole. Everything is vectorised and deterministic (ties go to the smaller id), so a re-link costs about
what connected components did; networkx's Louvain gave the same clusters on the evaluation days at two
to three times the cost per re-link, and the detector re-links every hour of event time.

An enterprise behind one NAT paying with one card *is* one cluster: telling it from a hydra is the
scoring model's job, from the cluster's behaviour (one organisation, office hours, varied multi-turn
work), which is what an analyst would look at too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from distillguard.detector.state import VALUE_BITS, AccountState
from distillguard.detector.units import HOUR

BURST_BUCKET_HOURS = 6.0
BURST_TILINGS = (0.0, 0.5)  # creation buckets are tiled twice, the second shifted by half a bucket
# A prompt skeleton used by more than 1% of all accounts (at least 20) is a popular one: a framework's
# default, a viral prompt. It says nothing about who operates an account, so template rules skip it;
# a campaign that large is caught by the infrastructure rules instead.
POPULAR_TEMPLATE_SHARE = 0.01
POPULAR_TEMPLATE_MIN = 20
STRONG_LINK = 1.0  # summed key weights that link two accounts
TEMPLATE_SHARE = 0.1  # a skeleton making up this share of an account's requests weighs fully for it...
TEMPLATE_DRIVEN = 0.2  # ...when rare repeated skeletons make up this share of its requests
MAX_KEY_ACCOUNTS = 256  # network keys held by more accounts are not summed per pair (cost; they identify no one)
MIN_SPLIT_NODES = 3  # components this large are checked for communities
NEIGHBOURS = 10  # label propagation runs over each node's strongest links only
PROPAGATION_ROUNDS = 30  # at most; propagation usually settles within ten
MERGE_BACK = 0.03  # communities joined by at least this share of the smaller one's link weight are one
EDGE_CAP = 2.0  # a pair's weight counts up to this in the strong-link graph: no single pair dominates
WEIGHT_TOLERANCE = 1e-9  # float sums of key weights that meet a threshold up to rounding meet it
IDENTITY, NETWORK, CONTENT = "identity", "network", "content"
ROW_INDEX = np.int32  # accounts and key ids of the evidence rows (4 bytes, not 8: far fewer than 2**31 of either)


@dataclass(frozen=True)
class Rule:
    """An evidence rule: its name, the weight of one shared key (None for identity keys, which link on their own)
    and its kind, which says how that weight is scaled (network: by popularity; content: per account)."""

    name: str
    weight: float | None
    kind: str


RULE_SPECS = (
    Rule("card", None, IDENTITY),
    Rule("api_key", None, IDENTITY),
    Rule("ip+client", 0.5, NETWORK),
    Rule("ip+burst", 1.0, NETWORK),
    Rule("subnet+client+burst", 0.5, NETWORK),
    Rule("client+burst", 0.34, NETWORK),
    Rule("template", 0.5, CONTENT),
    Rule("template+client", 0.5, CONTENT),
    Rule("template+ip", 0.5, CONTENT),
)
RULE_INDEX = {r.name: i for i, r in enumerate(RULE_SPECS)}
_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class Linkage:
    """Clusters over the accounts of a state (``labels[i] == -1``: not linked to anyone)."""

    labels: np.ndarray
    n_clusters: int
    shared_keys: np.ndarray  # per account: how many shared rule keys it holds
    burst_size: np.ndarray  # per account: accounts in its largest creation burst
    shares_template: np.ndarray  # per account: shares a prompt skeleton with another account

    def extended(self, n: int) -> Linkage:
        """The same clusters over ``n`` accounts (accounts seen since are not linked yet)."""
        k = n - len(self.labels)
        if k <= 0:
            return self
        pad = lambda a, v: np.concatenate([a, np.full(k, v, dtype=a.dtype)])  # noqa: E731
        return Linkage(
            pad(self.labels, -1),
            self.n_clusters,
            pad(self.shared_keys, 0),
            pad(self.burst_size, 0),
            pad(self.shares_template, False),
        )

    def to_doc(self) -> dict:
        """Plain-data form for snapshots."""
        return {
            "labels": self.labels.tolist(),
            "n_clusters": self.n_clusters,
            "shared_keys": self.shared_keys.tolist(),
            "burst_size": self.burst_size.tolist(),
            "shares_template": self.shares_template.tolist(),
        }

    @classmethod
    def from_doc(cls, doc: dict) -> Linkage:
        """Inverse of :meth:`to_doc` (older snapshots' ``rule_members`` are ignored)."""
        return cls(
            np.asarray(doc["labels"], dtype=np.int64),
            doc["n_clusters"],
            np.asarray(doc["shared_keys"], dtype=float),
            np.asarray(doc["burst_size"], dtype=float),
            np.asarray(doc["shares_template"], dtype=bool),
        )

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


def _key(rule: str, *cols: np.ndarray) -> np.ndarray:
    """The keys of ``rule`` for the values in ``cols``: tagged with the rule, so keys of two rules never collide."""
    return _mix(np.full(len(cols[0]), RULE_INDEX[rule]), *cols)


def rows_of(owner: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each entry of ``owners``, the rows of the sorted ``owner`` array equal to it: (entry, row) pairs."""
    lo, hi = np.searchsorted(owner, owners, side="left"), np.searchsorted(owner, owners, side="right")
    cnt = hi - lo
    entry = np.repeat(np.arange(len(owners)), cnt)
    row = np.repeat(lo, cnt) + (np.arange(len(entry)) - np.repeat(np.cumsum(cnt) - cnt, cnt))
    return entry, row


def _cross(
    a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-account cross product of two (account, value) relations: (account, value_a, value_b)."""
    (aa, av), (ba, bv) = a, b
    o = np.argsort(aa, kind="stable")
    entry, row = rows_of(aa[o], ba)
    return ba[entry], av[o][row], bv[entry]


def _bursts(state: AccountState) -> tuple[np.ndarray, np.ndarray]:
    """(account, burst key): the account's creation bucket of :data:`BURST_BUCKET_HOURS`, in two tilings offset
    by half a bucket (so two accounts created an hour apart share a burst wherever the hour falls), per
    verification path."""
    created = state.col("created")
    path = state.col("verification").astype(np.int64)
    idx = np.flatnonzero(~np.isnan(created))
    buckets = created[idx] / (BURST_BUCKET_HOURS * HOUR)
    keys = [
        _mix(np.full(len(idx), tiling), np.floor(buckets + offset).astype(np.int64), path[idx])
        for tiling, offset in enumerate(BURST_TILINGS)
    ]
    return np.concatenate([idx] * len(keys)), np.concatenate(keys)


def popularity(df: np.ndarray) -> np.ndarray:
    """Per-pair discount of a network key held by ``df`` accounts: 1 up to 4 accounts, then 2 / log2(df)
    (0.5 at 16, 0.33 at 64, 0.23 at 400): a shared address says less about each pair the more share it."""
    return np.minimum(1.0, 2.0 / np.log2(np.maximum(df, 2)))


@dataclass
class RuleRows:
    """One rule's evidence, a row per (account, rule key): the rule (index into RULE_SPECS), the account, the key
    and the account's own scale of that key's weight (for content rules: the skeleton's share of the account's
    traffic times how template-driven the account is; else 1)."""

    rule: int
    account: np.ndarray
    key: np.ndarray
    scale: np.ndarray


def evidence(state: AccountState) -> tuple[Iterator[RuleRows], dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The rule keys of every account that another account may share too (a key whose values no other account holds
    ties no one and is not built), one rule at a time in :data:`RULE_SPECS` order (keys of different rules never
    collide; a rule's rows are built when asked for, so only one rule's unfiltered rows are held at once), and the
    base relations (account, value), with ``template_holders``: (account, how many accounts use each of its
    skeletons)."""
    n_acc = state.size
    rel = {kind: state.links[kind].split(VALUE_BITS)[:2] for kind in ("card", "api_key", "ip", "subnet", "client")}
    rel["burst"] = _bursts(state)
    ta, tk, tc = state.templates.split(VALUE_BITS)
    _, tinv, tdf = np.unique(tk, return_inverse=True, return_counts=True)
    holders = tdf.astype(np.int32)[tinv]  # per (account, skeleton): accounts using that skeleton
    del tinv
    rel["template_holders"] = (ta, holders)
    rare = holders <= max(POPULAR_TEMPLATE_MIN, POPULAR_TEMPLATE_SHARE * n_acc)
    habit = np.flatnonzero(rare & (tc >= 2))  # a campaign's skeleton that the account itself repeats
    # how much of the account's traffic the skeleton is: full weight from TEMPLATE_SHARE of its requests
    n_req = np.maximum(state.col("n").astype(float), 1.0)
    share = np.minimum(1.0, tc[habit] / (TEMPLATE_SHARE * n_req[ta[habit]])) ** 2
    # ...and how template-driven the account is (rare repeated skeletons, two per request: opening, closing)
    driven = np.minimum(
        1.0, np.bincount(ta[habit], weights=tc[habit], minlength=n_acc) / (2.0 * TEMPLATE_DRIVEN * n_req)
    )
    share *= driven[ta[habit]]
    # A key two accounts share has every one of its values shared: rows with a value only one account holds would
    # make keys only one account holds, which tie no one, so they are not built (the cross products shrink most).
    shared = {name: _held_by_others(*rel[name]) for name in ("card", "api_key", "ip", "subnet", "client", "burst")}
    tpl = (ta[habit][holders[habit] >= 2], np.flatnonzero(holders[habit] >= 2))  # (account, row of habit)
    habit_skeleton = tk[habit]

    def plain(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        acct, v = shared[name]
        return acct, _key(name, v), np.ones(len(acct))

    def network(left: str, right: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        acct, va, vb = _cross(shared[left], shared[right])
        return acct, _key(f"{left}+{right}", va, vb), np.ones(len(acct))

    def content(other: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        acct, row, vb = _cross(tpl, shared[other])
        return acct, _key(f"template+{other}", habit_skeleton[row], vb), share[row]

    def pool() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        acct, vs, vc = _cross(shared["subnet"], shared["client"])
        acct2, vsc, vb = _cross((acct, _mix(vs, vc)), shared["burst"])
        return acct2, _key("subnet+client+burst", vsc, vb), np.ones(len(acct2))

    build: dict[str, Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]] = {
        "card": partial(plain, "card"),
        "api_key": partial(plain, "api_key"),
        "ip+client": partial(network, "ip", "client"),
        "ip+burst": partial(network, "ip", "burst"),
        "subnet+client+burst": pool,
        "client+burst": partial(network, "client", "burst"),
        "template": lambda: (tpl[0], _key("template", habit_skeleton[tpl[1]]), share[tpl[1]]),
        "template+client": partial(content, "client"),
        "template+ip": partial(content, "ip"),
    }
    return (RuleRows(i, *build[r.name]()) for i, r in enumerate(RULE_SPECS)), rel


def _held_by_others(acct: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of an (account, value) relation (each pair once) whose value two or more accounts hold."""
    _, inv, held = np.unique(value, return_inverse=True, return_counts=True)
    keep = held[inv] >= 2
    return acct[keep], value[keep]


@dataclass(frozen=True)
class Ties:
    """The evidence between accounts before they are cut into clusters."""

    node: np.ndarray  # per account: its node (accounts sharing a card or an API key are one node)
    pairs: sparse.coo_matrix  # summed weight of the other keys each pair of accounts shares (upper triangle)
    shared_keys: np.ndarray  # per account: how many shared rule keys it holds
    relations: dict[str, tuple[np.ndarray, np.ndarray]]  # the base relations of :func:`evidence`

    def weight(self, a: int, b: int) -> float:
        """The summed weight of the non-identity keys accounts ``a`` and ``b`` share."""
        lo, hi = min(a, b), max(a, b)
        return float(self.pairs.data[(self.pairs.row == lo) & (self.pairs.col == hi)].sum())


def ties(state: AccountState, max_df_share: float = 0.25) -> Ties:
    """Weigh the evidence between accounts (see the module docstring): keys held by one account, or by more than
    ``max_df_share`` of them (at least 50), tie no one."""
    n_acc = state.size
    rows, rel = evidence(state)  # relations hold each (account, value) once
    acct, kid, rule, weight = _shared_rows(rows, max(50, int(max_df_share * n_acc)))
    n_keys = int(kid.max()) + 1 if len(kid) else 0
    # accounts sharing a card or an API key are one node
    ident = _of_kind(rule, IDENTITY)
    g = sparse.coo_matrix((np.ones(int(ident.sum())), (acct[ident], n_acc + kid[ident])), shape=(n_acc + n_keys,) * 2)
    _, node = connected_components(g.tocsr(), directed=False)
    _, node = np.unique(node[:n_acc], return_inverse=True)
    del g
    # the other keys: evidence per pair of accounts, summed over the keys they share
    use = ~ident & (weight > 0)
    b = sparse.csr_matrix((np.sqrt(weight[use]), (acct[use], kid[use])), shape=(n_acc, n_keys))
    shared_keys = np.bincount(acct, minlength=n_acc).astype(float)
    del acct, kid, rule, weight, use
    return Ties(node=node, pairs=sparse.triu(b @ b.T, k=1).tocoo(), shared_keys=shared_keys, relations=rel)


def _shared_rows(rows: Iterator[RuleRows], max_df: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The rows whose key is held by 2 to ``max_df`` accounts: (account, key id, rule, weight), key ids numbered in
    key order. A network key's weight is discounted by its popularity, and 0 when more than
    :data:`MAX_KEY_ACCOUNTS` hold it (it identifies no one, and would cost quadratically); identity keys weigh 0.
    Rules are filtered one at a time (all holders of a key are in its rule), so at most one rule's unfiltered rows
    are held."""
    rule_weight = np.array([r.weight or 0.0 for r in RULE_SPECS])
    network = np.array([r.kind == NETWORK for r in RULE_SPECS])
    columns: tuple[list[np.ndarray], ...] = ([], [], [], [])  # account, position, rule, weight: pieces per rule
    kept_keys, n_kept = [], 0
    for r in rows:
        uniq, inv, df = np.unique(r.key, return_inverse=True, return_counts=True)
        held = (df >= 2) & (df <= max_df)
        keep = held[inv]
        # the key's place among the keys kept so far
        position = (np.cumsum(held, dtype=ROW_INDEX) - 1 + n_kept)[inv[keep]]
        if network[r.rule]:
            kdf = df[inv[keep]]
            weight = rule_weight[r.rule] * popularity(kdf) * (kdf <= MAX_KEY_ACCOUNTS)
        else:
            weight = rule_weight[r.rule] * r.scale[keep]
        pieces = (r.account[keep].astype(ROW_INDEX), position, np.full(len(position), r.rule, dtype=np.int8), weight)
        for column, piece in zip(columns, pieces, strict=True):
            column.append(piece)
        kept_keys.append(uniq[held])
        n_kept += int(held.sum())
    acct, position, rule, weight = (_concatenate_emptying(column) for column in columns)
    keys = np.concatenate(kept_keys)
    rank = np.empty(len(keys), dtype=ROW_INDEX)
    rank[np.argsort(keys, kind="stable")] = np.arange(len(keys), dtype=ROW_INDEX)
    return acct, rank[position], rule, weight


def _concatenate_emptying(pieces: list[np.ndarray]) -> np.ndarray:
    """The pieces as one array, the list emptied (so one column at a time is held twice, not all of them)."""
    out = np.concatenate(pieces)
    pieces.clear()
    return out


def _of_kind(rule: np.ndarray, kind: str) -> np.ndarray:
    """Which evidence rows (by their rule index) come from a rule of ``kind`` (a mask, one byte a row)."""
    return np.isin(rule, [i for i, r in enumerate(RULE_SPECS) if r.kind == kind])


def link_accounts(state: AccountState, max_df_share: float = 0.25) -> Linkage:
    """Weigh the evidence between accounts and return the clusters: communities of strongly linked
    accounts (see the module docstring). Deterministic: the same state gives the same clusters."""
    n_acc = state.size
    t = ties(state, max_df_share)
    node, pair, rel = t.node, t.pairs, t.relations
    n_nodes = int(node.max()) + 1 if n_acc else 0
    # strong pairs become edges between their nodes (weight capped per pair, so no single pair dominates)
    strong = pair.data >= STRONG_LINK - WEIGHT_TOLERANCE
    na, nb, pw = node[pair.row[strong]], node[pair.col[strong]], np.minimum(pair.data[strong], EDGE_CAP)
    cross = na != nb
    edges = sparse.coo_matrix(
        (pw[cross], (np.minimum(na, nb)[cross], np.maximum(na, nb)[cross])), shape=(n_nodes, n_nodes)
    ).tocsr()
    edges.sum_duplicates()
    comm = _communities(edges.tocoo(), np.bincount(node, minlength=n_nodes))[node]
    sizes = np.bincount(comm)
    linked = sizes[comm] >= 2
    labels = np.full(n_acc, -1, dtype=np.int64)
    uniq, dense = np.unique(comm[linked], return_inverse=True)
    labels[linked] = dense

    burst_size = np.zeros(n_acc)
    ba, bv = rel["burst"]
    if len(ba):
        _, binv, bdf = np.unique(bv, return_inverse=True, return_counts=True)
        np.maximum.at(burst_size, ba, bdf[binv])
    shares_template = np.zeros(n_acc, dtype=bool)
    ta, holders = rel["template_holders"]
    shares_template[ta[holders >= 2]] = True
    return Linkage(
        labels=labels,
        n_clusters=len(uniq),
        shared_keys=t.shared_keys,
        burst_size=burst_size,
        shares_template=shares_template,
    )


def _communities(edges: sparse.coo_matrix, accounts: np.ndarray) -> np.ndarray:
    """Community per node of the strong-link graph (``edges``: upper-triangular weights; ``accounts``:
    accounts per node). Label propagation over each node's strongest links proposes communities inside
    every connected component; two communities are merged back unless the cut between them is sparse."""
    n = len(accounts)
    _, comp = connected_components(edges, directed=False)
    big = np.bincount(comp)[comp] >= MIN_SPLIT_NODES
    if not big.any():
        return comp
    inner = own_weight(accounts)
    label = _propagate(n, *_backbone(edges, big, NEIGHBOURS), inner)
    part = np.where(big, n + label, comp)  # labels spread along links only, so never across components
    return _merge_back(edges, np.unique(part, return_inverse=True)[1], inner)


def own_weight(accounts: np.ndarray) -> np.ndarray:
    """The weight a node's own accounts (one identity: a card, an API key) tie it with: each account beyond the
    first weighs what the tightest pair of linked accounts can (:data:`EDGE_CAP`, two strong links)."""
    return EDGE_CAP * (accounts - 1.0)


def _backbone(edges: sparse.coo_matrix, nodes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The edges between ``nodes`` (a mask) that are among the ``k`` strongest of either end: every dense
    group and every bridge survive, at a cost linear in the nodes."""
    keep = nodes[edges.row]
    r, c, w = edges.row[keep], edges.col[keep], edges.data[keep]
    src, dst, ww = np.concatenate([r, c]), np.concatenate([c, r]), np.concatenate([w, w])
    o = np.lexsort((-ww, src))
    src, dst, ww = src[o], dst[o], ww[o]
    top = np.arange(len(src)) - np.searchsorted(src, src) < k
    lo, hi = np.minimum(src[top], dst[top]), np.maximum(src[top], dst[top])
    _, first = np.unique(lo.astype(np.int64) * len(nodes) + hi, return_index=True)
    return lo[first], hi[first], ww[top][first]


def _propagate(n: int, a: np.ndarray, b: np.ndarray, w: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Weighted label propagation, every node at once: a node takes the label that weighs most among its
    links (its own accounts count as a link of weight ``inner``), keeping its own unless another weighs
    strictly more; ties go to the smaller label. Stops when nothing moves or labels flip back and forth."""
    src = np.concatenate([a, b, np.arange(n)]).astype(np.int64)
    dst = np.concatenate([b, a, np.arange(n)])
    w = np.concatenate([w, w, inner])
    label = np.arange(n, dtype=np.int64)
    before = label
    for _ in range(PROPAGATION_ROUNDS):
        keys, inv = np.unique(src * n + label[dst], return_inverse=True)
        score = np.bincount(inv, weights=w)
        node, cand = keys // n, keys % n
        o = np.lexsort((cand, -score, node))
        best = o[np.r_[True, node[o][1:] != node[o][:-1]]]
        own = score[np.searchsorted(keys, node[best] * n + label[node[best]])]
        move = score[best] > own + WEIGHT_TOLERANCE
        new = label.copy()
        new[node[best][move]] = cand[best][move]
        if np.array_equal(new, label) or np.array_equal(new, before):
            break
        before, label = label, new
    return label


def _merge_back(edges: sparse.coo_matrix, part: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Join two parts whenever the link weight between them is at least ``MERGE_BACK`` of the smaller
    part's total (its links plus its nodes' own accounts): only sparse cuts, such as one or two accounts
    bridging two dense groups, stay cut; a uniformly knit hydra is never left in pieces."""
    n, k = len(part), int(part.max()) + 1
    sym = (edges + edges.T).tocsr()
    p = sparse.csr_matrix((np.ones(n), (np.arange(n), part)), shape=(n, k))
    between = (p.T @ sym @ p).tocoo()
    vol = np.bincount(part, weights=np.asarray(sym.sum(axis=1)).ravel() + inner, minlength=k)
    off = between.row < between.col
    r, c, x = between.row[off], between.col[off], between.data[off]
    dense = x >= MERGE_BACK * np.minimum(vol[r], vol[c])
    merge = sparse.coo_matrix((np.ones(int(dense.sum())), (r[dense], c[dense])), shape=(k, k))
    return connected_components(merge.tocsr(), directed=False)[1][part]
