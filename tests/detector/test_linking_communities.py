"""How linking cuts the strong-link graph into communities (detector/linking.py, the module docstring's last part).

The graph is built by hand here, node by node, so each test states the weights it is about: which links survive
the backbone, where label propagation settles, and when two parts are merged back.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse

from distillguard.detector.linking import (
    MERGE_BACK,
    NEIGHBOURS,
    WEIGHT_TOLERANCE,
    _backbone,
    _communities,
    _merge_back,
    _propagate,
    own_weight,
)


def graph(n: int, links: dict[tuple[int, int], float]) -> sparse.coo_matrix:
    """Upper-triangular weights of the strong-link graph over ``n`` nodes, as link_accounts builds it."""
    rows = [min(a, b) for a, b in links]
    cols = [max(a, b) for a, b in links]
    return sparse.coo_matrix((list(links.values()), (rows, cols)), shape=(n, n))


def clique(nodes: range, weight: float) -> dict[tuple[int, int], float]:
    return {(a, b): weight for a in nodes for b in nodes if a < b}


def groups(labels: np.ndarray) -> set[frozenset[int]]:
    """The partition ``labels`` describes, whatever the label values."""
    return {frozenset(np.flatnonzero(labels == v).tolist()) for v in np.unique(labels)}


def ones(n: int) -> np.ndarray:
    return np.ones(n, dtype=np.int64)


# --- communities ----------------------------------------------------------------------------------------------------


def test_two_dense_groups_bridged_by_one_link_are_two_communities() -> None:
    links = clique(range(6), 2.0) | clique(range(6, 12), 2.0) | {(5, 6): 1.0}
    assert groups(_communities(graph(12, links), ones(12))) == {frozenset(range(6)), frozenset(range(6, 12))}


def test_two_dense_groups_tied_by_many_links_are_one_community() -> None:
    links = clique(range(6), 2.0) | clique(range(6, 12), 2.0) | {(a, a + 6): 2.0 for a in range(3)}
    assert groups(_communities(graph(12, links), ones(12))) == {frozenset(range(12))}


def test_a_uniformly_knit_group_is_one_community_and_unlinked_nodes_stay_alone() -> None:
    links = clique(range(13), 1.5)
    assert groups(_communities(graph(15, links), ones(15))) == {frozenset(range(13)), frozenset({13}), frozenset({14})}


def test_a_chain_is_kept_whole_however_long() -> None:
    links = {(a, a + 1): 1.0 for a in range(19)}
    assert groups(_communities(graph(20, links), ones(20))) == {frozenset(range(20))}


def test_a_component_of_two_nodes_is_never_split() -> None:
    # Two identity nodes of 50 accounts each, tied by one strong pair: one cluster, however heavy the nodes
    # (components of fewer than MIN_SPLIT_NODES = 3 nodes are not checked for communities).
    assert groups(_communities(graph(2, {(0, 1): 1.0}), np.full(2, 50))) == {frozenset({0, 1})}


def test_heavy_nodes_tied_by_single_links_in_a_component_of_three_stay_apart() -> None:
    # Identity nodes of 50 accounts each are as tight as 98 strong links: one pair link between two of them
    # is a sparse cut, so a component of three such nodes is cut into its nodes.
    links = {(0, 1): 1.0, (1, 2): 1.0}
    assert groups(_communities(graph(3, links), np.full(3, 50))) == {frozenset({0}), frozenset({1}), frozenset({2})}


def test_a_node_of_two_accounts_is_as_tight_as_two_strong_links() -> None:
    # Node 0 holds two accounts (inner weight 2 x (2 - 1) = 2.0); a single 2.0 link to node 1 does not pull it:
    # a node keeps its label unless another weighs strictly more. Each part then weighs 2 + 2 = 4 on node 0's
    # side, and the link between them (2.0) is dense enough to merge them back.
    label = _propagate(2, np.array([0]), np.array([1]), np.array([2.0]), np.array([2.0, 2.0]))
    assert label.tolist() == [0, 1]
    merged = _communities(graph(3, {(0, 1): 2.0, (1, 2): 2.0}), np.array([2, 1, 1]))
    assert groups(merged) == {frozenset({0, 1, 2})}


def test_a_node_is_tied_by_its_own_accounts_like_two_strong_links_per_account_beyond_the_first() -> None:
    assert own_weight(np.array([1, 2, 50])).tolist() == [0.0, 2.0, 98.0]


def test_communities_far_down_a_large_graph_keep_apart_from_each_other_and_from_small_components() -> None:
    # Four dense groups in a row, each bridged to the next by one link, among 100 nodes (labels past 64; every
    # community's label kept apart from the ids of the small components, which run up to about 60).
    links = {(0, 1): 1.0} | {(a, a + 10): 1.0 for a in (59, 69, 79)}
    for start in (50, 60, 70, 80):
        links |= clique(range(start, start + 10), 2.0)
    expected = {frozenset({0, 1})} | {frozenset(range(s, s + 10)) for s in (50, 60, 70, 80)}
    expected |= {frozenset({a}) for a in [*range(2, 50), *range(90, 100)]}
    assert groups(_communities(graph(100, links), ones(100))) == expected


def test_a_node_joins_the_group_its_ten_strongest_links_point_to() -> None:
    # Node 60's eleven links, strongest first: four of 1.0 into group A, five of 0.82 into B, one of 0.5 into A,
    # one of 0.45 into B. Its ten strongest (NEIGHBOURS) weigh 4.5 towards A and 4.1 towards B; nine would weigh
    # 4.0 and 4.1, eleven 4.5 and 4.55. Its links are the weakest of every group member (who has 29 links of 2.0),
    # and the groups are too large for its links to merge them back.
    a, b, hub = range(30), range(30, 60), 60
    links = clique(a, 2.0) | clique(b, 2.0)
    links |= {(x, hub): 1.0 for x in range(4)} | {(4, hub): 0.5}
    links |= {(x, hub): 0.82 for x in range(30, 35)} | {(35, hub): 0.45}
    community = _communities(graph(61, links), ones(61))
    assert groups(community) == {frozenset([*a, hub]), frozenset(b)}


# --- backbone: each node's strongest links ----------------------------------------------------------------------------


def test_the_backbone_drops_links_that_are_among_the_strongest_of_neither_end() -> None:
    # A path 0 -3- 1 -1- 2 -3- 3: with one link per node, the middle link is nobody's strongest.
    edges = graph(4, {(0, 1): 3.0, (1, 2): 1.0, (2, 3): 3.0})
    lo, hi, w = _backbone(edges, np.ones(4, dtype=bool), 1)
    assert sorted(zip(lo.tolist(), hi.tolist(), w.tolist(), strict=True)) == [(0, 1, 3.0), (2, 3, 3.0)]
    lo, hi, w = _backbone(edges, np.ones(4, dtype=bool), 2)
    assert sorted(zip(lo.tolist(), hi.tolist(), w.tolist(), strict=True)) == [(0, 1, 3.0), (1, 2, 1.0), (2, 3, 3.0)]


def test_the_backbone_keeps_a_link_strongest_at_one_end_only_once() -> None:
    # A hub with more links than NEIGHBOURS: its weakest links are still every leaf's strongest, so all survive.
    leaves = NEIGHBOURS + 3
    edges = graph(leaves + 1, {(0, a): float(a) for a in range(1, leaves + 1)})
    lo, hi, w = _backbone(edges, np.ones(leaves + 1, dtype=bool), NEIGHBOURS)
    assert sorted(zip(lo.tolist(), hi.tolist(), w.tolist(), strict=True)) == [
        (0, a, float(a)) for a in range(1, leaves + 1)
    ]


def test_the_backbone_keeps_only_the_k_strongest_links_of_a_dense_node() -> None:
    # In a clique with distinct weights, node 0's weakest links are also its neighbours' weakest.
    n = NEIGHBOURS + 3
    links = {(a, b): float(a + b) for a in range(n) for b in range(a + 1, n)}
    lo, hi, _ = _backbone(graph(n, links), np.ones(n, dtype=bool), NEIGHBOURS)
    kept = set(zip(lo.tolist(), hi.tolist(), strict=True))
    assert (0, 1) not in kept and (0, 2) not in kept  # the two weakest links of the whole clique
    assert (n - 2, n - 1) in kept
    degree = np.bincount(np.concatenate([lo, hi]), minlength=n)
    assert degree.min() >= NEIGHBOURS


def test_the_backbone_covers_only_the_masked_nodes() -> None:
    edges = graph(5, {(0, 1): 2.0, (1, 2): 2.0, (3, 4): 2.0})
    lo, hi, _ = _backbone(edges, np.array([True, True, True, False, False]), NEIGHBOURS)
    assert sorted(zip(lo.tolist(), hi.tolist(), strict=True)) == [(0, 1), (1, 2)]


def test_the_backbone_of_a_directed_view_is_its_upper_triangle() -> None:
    # Links come upper-triangular (row < col); the mask is read at the row, the lower end.
    edges = graph(3, {(0, 2): 2.0, (1, 2): 1.0})
    lo, hi, w = _backbone(edges, np.array([True, False, True]), NEIGHBOURS)
    assert list(zip(lo.tolist(), hi.tolist(), w.tolist(), strict=True)) == [(0, 2, 2.0)]


# --- label propagation ------------------------------------------------------------------------------------------------


def test_propagation_settles_on_one_label_per_dense_group() -> None:
    links = clique(range(4), 2.0) | clique(range(4, 8), 2.0) | {(3, 4): 0.5}
    a, b = np.array([k[0] for k in links]), np.array([k[1] for k in links])
    label = _propagate(8, a, b, np.array(list(links.values())), np.zeros(8))
    assert groups(label) == {frozenset(range(4)), frozenset(range(4, 8))}


def test_propagation_breaks_ties_towards_the_smaller_label() -> None:
    # Node 1 sits between nodes 0 and 2 with equal weights: it joins 0; the ends hold their own (inner 2 > 1).
    label = _propagate(3, np.array([0, 1]), np.array([1, 2]), np.array([1.0, 1.0]), np.array([2.0, 0.0, 2.0]))
    assert label.tolist() == [0, 0, 2]


def test_propagation_keeps_a_label_unless_another_weighs_strictly_more_up_to_rounding() -> None:
    a, b = np.array([0]), np.array([1])
    inner = np.array([2.0, 2.0])
    assert _propagate(2, a, b, np.array([2.0 + WEIGHT_TOLERANCE / 10]), inner).tolist() == [0, 1]
    assert _propagate(2, a, b, np.array([2.0 + 1e-6]), inner).tolist() == [1, 0]  # both move, then they would
    # only swap back and forth: propagation stops rather than flip forever


def path_labels(n: int) -> list[int]:
    """Labels of a path whose links weaken away from node 0, which holds its own label (heavy inner weight):
    node 0's label moves one node further each round."""
    a, b = np.arange(n - 1), np.arange(1, n)
    inner = np.r_[10.0, np.zeros(n - 1)]
    return _propagate(n, a, b, np.linspace(2.0, 1.0, n - 1), inner).tolist()


def test_propagation_runs_as_many_rounds_as_a_label_needs_to_travel_a_path_up_to_thirty() -> None:
    assert path_labels(31) == [0] * 31  # PROPAGATION_ROUNDS = 30 rounds carry node 0's label 30 nodes on
    # one node further: the last node is left with node 1's original label
    assert path_labels(32) == [0] * 31 + [1]


# --- merging parts back ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("bridge", "merged"), [(3.0, True), (2.99, False)])
def test_two_parts_merge_when_their_cut_weighs_the_merge_share_of_the_smaller(bridge: float, merged: bool) -> None:
    # Parts {0, 1} and {2, 3}: each weighs 2 x pair + bridge + own accounts' inner weight; the smaller weighs
    # 100 when the bridge weighs 3, so the cut meets MERGE_BACK (3%) exactly.
    pair = (100.0 - 3.0 - 1.0) / 2  # 48: with the bridge (3) and node 0's inner weight (1): 100
    inner = np.array([1.0, 0.0, 5.0, 0.0])
    edges = graph(4, {(0, 1): pair, (1, 2): bridge, (2, 3): pair})
    assert MERGE_BACK * 100.0 == 3.0
    part = _merge_back(edges, np.array([0, 0, 1, 1]), inner)
    assert (len(set(part.tolist())) == 1) is merged
    assert part[0] == part[1] and part[2] == part[3]


def test_merging_back_joins_chains_of_parts() -> None:
    edges = graph(3, {(0, 1): 1.0, (1, 2): 1.0})
    assert _merge_back(edges, np.array([0, 1, 2]), np.zeros(3)).tolist() == [0, 0, 0]
    assert _merge_back(graph(3, {}), np.array([0, 1, 2]), np.zeros(3)).tolist() == [0, 1, 2]
