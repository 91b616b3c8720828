"""Linking filters its evidence one rule at a time (so one rule's unfiltered rows are the most it holds): the ties it
weighs must be exactly those of filtering every rule's rows at once, written out here the plain way."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from distillguard.detector.linking import (
    IDENTITY,
    MAX_KEY_ACCOUNTS,
    NETWORK,
    RULE_SPECS,
    evidence,
    popularity,
    ties,
)
from distillguard.detector.state import AccountState

from .conftest import SIMULATED_DAYS

pytestmark = SIMULATED_DAYS


def _all_at_once(state: AccountState, max_df_share: float) -> tuple[np.ndarray, sparse.coo_matrix, np.ndarray]:
    """Node per account, pair weights and shared keys per account, from every rule's rows held together."""
    n_acc = state.size
    rows, _ = evidence(state)
    rows = list(rows)
    acct = np.concatenate([r.account for r in rows])
    key = np.concatenate([r.key for r in rows])
    rule = np.concatenate([np.full(len(r.key), r.rule) for r in rows])
    scale = np.concatenate([r.scale for r in rows])
    _, kid, df = np.unique(key, return_inverse=True, return_counts=True)
    kdf = df[kid]
    keep = (kdf >= 2) & (kdf <= max(50, int(max_df_share * n_acc)))
    acct, kid, rule, scale, kdf = acct[keep], kid[keep], rule[keep], scale[keep], kdf[keep]
    kinds = np.array([r.kind for r in RULE_SPECS])[rule]
    ident, network = kinds == IDENTITY, kinds == NETWORK
    n_keys = len(df)
    g = sparse.coo_matrix((np.ones(int(ident.sum())), (acct[ident], n_acc + kid[ident])), shape=(n_acc + n_keys,) * 2)
    node = np.unique(connected_components(g.tocsr(), directed=False)[1][:n_acc], return_inverse=True)[1]
    w = np.array([r.weight or 0.0 for r in RULE_SPECS])[rule] * np.where(network, popularity(kdf), scale)
    use = ~ident & (~network | (kdf <= MAX_KEY_ACCOUNTS))
    b = sparse.csr_matrix((np.sqrt(w[use]), (acct[use], kid[use])), shape=(n_acc, n_keys))
    return node, sparse.triu(b @ b.T, k=1).tocoo(), np.bincount(acct, minlength=n_acc).astype(float)


def _nonzero(m: sparse.coo_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m = m.tocsr()
    m.eliminate_zeros()
    m.sort_indices()
    m = m.tocoo()
    return m.row, m.col, m.data


@pytest.mark.parametrize("day", ["standard_day", "hard_day"])
@pytest.mark.parametrize("max_df_share", [0.25, 0.002])  # 0.002: the 50-account floor of the key ceiling applies
def test_rule_at_a_time_weighs_exactly_what_all_rows_at_once_do(
    day: str, max_df_share: float, request: pytest.FixtureRequest
) -> None:
    state = request.getfixturevalue(day)["detector"].state
    node, pairs, shared = _all_at_once(state, max_df_share)
    t = ties(state, max_df_share)
    assert t.pairs.nnz > state.size  # the day links accounts: the comparison is not between two empty graphs
    np.testing.assert_array_equal(t.node, node)
    np.testing.assert_array_equal(t.shared_keys, shared)
    for got, want in zip(_nonzero(t.pairs), _nonzero(pairs), strict=True):
        np.testing.assert_array_equal(got, want)  # bit for bit: the same sums in the same order
