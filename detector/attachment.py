"""Accounts sending through a flagged cluster's infrastructure before linking would tie them to it.

A hydra keeps adding light accounts behind the same proxy exits. Linking needs a few requests of each before an
account shares enough keys with any one other account to join the cluster (:mod:`detector.linking`), and until
then the ladder's few-requests rule keeps it at ``watch``. Yet its first requests already say something an analyst
would act on: most of them came through addresses that a flagged cluster's accounts use, from a client build that
cluster shares. That is linking evidence (it ties the account to other accounts); it is not membership, so it
lifts the few-requests cap and nothing more (a rung that needs a cluster still needs one).

An address is a cluster's *exit* when at least :data:`EXIT_MIN_MEMBERS` of the cluster's accounts use it and they
are at least :data:`EXIT_PURITY` of everyone who does: a campus or office NAT that a flagged cluster's members
happened to pass through is shared with far more accounts outside the cluster, and is nobody's exit. An account is
*attached* to the cluster when at least :data:`ATTACH_SHARE` of its requests came through the cluster's exits and
one of its client builds is one the cluster's members use: a reseller's customer who sends through a proxy exit now
and then, or from its own client, is not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from distillguard.detector.linking import rows_of
from distillguard.detector.state import VALUE_BITS, AccountState

EXIT_MIN_MEMBERS = 2  # cluster accounts using an address, at least, for it to be the cluster's exit
EXIT_PURITY = 0.5  # ... and their share, at least, of all accounts using it
ATTACH_SHARE = 0.5  # share of an account's requests through one cluster's exits, at least, to attach it
LOW = (1 << VALUE_BITS) - 1


@dataclass(frozen=True)
class Attachment:
    """Per account: the flagged cluster it is attached to (-1: none), its requests through that cluster's exits and
    how many of the exits it used."""

    cluster: np.ndarray
    requests: np.ndarray
    exits: np.ndarray


def _scored(state: AccountState, kind: str, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(account, value, requests) of indicator ``kind`` for the ``n`` accounts scored."""
    a, v, c = state.links[kind].split(VALUE_BITS)
    keep = a < n
    return a[keep], v[keep], c[keep]


def attach(state: AccountState, labels: np.ndarray, flagged: np.ndarray) -> Attachment:
    """Which accounts in no cluster (``labels == -1``) send through a flagged cluster's exits (``flagged``: per
    cluster label) from one of its client builds. An account drawn to two clusters (half its requests through each's
    exits) goes to the smaller label."""
    n = len(labels)
    out = Attachment(*(np.full(n, fill, dtype=np.int64) for fill in (-1, 0, 0)))
    if not flagged.any():
        return out
    ia, iv, ic = _scored(state, "ip", n)
    ca, cv, _ = _scored(state, "client", n)
    # exits: (address, cluster) used by enough of the cluster's accounts, which are most of the address's users
    lab = labels[ia]
    bad = (lab >= 0) & flagged[np.maximum(lab, 0)]
    users = np.bincount(iv)
    exit_keys, held = np.unique((iv[bad] << VALUE_BITS) | lab[bad], return_counts=True)
    exit_keys = exit_keys[(held >= EXIT_MIN_MEMBERS) & (held >= EXIT_PURITY * users[exit_keys >> VALUE_BITS])]
    exit_ip, exit_cluster = exit_keys >> VALUE_BITS, exit_keys & LOW  # sorted by address
    # per (unlinked account, cluster): its requests through the cluster's exits, and how many exits
    loose = lab < 0
    ra, rv, rc = ia[loose], iv[loose], ic[loose]
    entry, row = rows_of(exit_ip, rv)
    pair = (ra[entry] << VALUE_BITS) | exit_cluster[row]
    uk, inv = np.unique(pair, return_inverse=True)
    through = np.bincount(inv, weights=rc[entry]).astype(np.int64)
    exits = np.bincount(inv).astype(np.int64)
    acct, cluster = uk >> VALUE_BITS, uk & LOW
    # ...from a client build the cluster's accounts use
    cl = labels[ca]
    bad = (cl >= 0) & flagged[np.maximum(cl, 0)]
    cluster_clients = np.unique((cv[bad] << VALUE_BITS) | cl[bad])
    order = np.argsort(ca, kind="stable")
    entry, row = rows_of(ca[order], acct)
    match = np.isin((cv[order][row] << VALUE_BITS) | cluster[entry], cluster_clients)
    same_client = np.bincount(entry[match], minlength=len(acct)) > 0
    ok = same_client & (through >= ATTACH_SHARE * state.col("n")[acct])  # an account with an address has a request
    acct, cluster, through, exits = acct[ok], cluster[ok], through[ok], exits[ok]
    # one cluster per account: the smaller label (two clusters' exits are disjoint for an account, which is a user
    # of each, so it is drawn to two only at exactly half its requests through each)
    order = np.lexsort((cluster, acct))
    first = order[np.r_[True, acct[order][1:] != acct[order][:-1]]] if len(order) else order
    a = acct[first]
    out.cluster[a], out.requests[a], out.exits[a] = cluster[first], through[first], exits[first]
    return out
