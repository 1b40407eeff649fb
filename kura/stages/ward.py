"""Ward's method over weighted points: the engine of the offline clusters and hierarchy.

Measured on CLINC150 (bench/clinc_quality.py): Ward on a nearest-neighbour graph, refined by one
k-means run, gives better base clusters than k-means++ with restarts, in a fraction of the
time (and than faiss k-means: BENCHMARKS.md, "How cost grows"); and Ward continued from the base clusters (weighted by size, centroids smoothed towards
their neighbours) recovers broad themes better than Ward, k-means or spectral clustering over
raw centroids. Everything here is deterministic.

Exact nearest-neighbour searches (Ward's graph, nearest centroids) go through faiss: the same
neighbours as scikit-learn's brute force, 2-2.3 times faster, in float32 and bounded memory.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np


def unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


def compact(labels: np.ndarray) -> np.ndarray:
    """Relabel to 0..k-1 in order of first appearance, so labels do not depend on the library."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse].astype(np.int64)


def ward_kmeans(vectors: np.ndarray, k: int, *, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """Ward linkage on a k-nearest-neighbour graph cut at ``k``, refined by k-means from its means.

    Ward gives k-means a far better start than k-means++ (seeds spread over dense regions), and
    the refinement fixes Ward's greedy merges. The graph keeps memory at O(n * n_neighbors).
    """
    from sklearn.cluster import AgglomerativeClustering, KMeans

    X = np.asarray(vectors, dtype=np.float64)
    n = len(X)
    k = max(1, min(k, n))
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    if k == n:
        return np.arange(n, dtype=np.int64)
    graph = knn_graph(X, min(n_neighbors, n - 1))
    with warnings.catch_warnings():  # "the graph has several components": sklearn joins them
        warnings.simplefilter("ignore", UserWarning)
        start = AgglomerativeClustering(n_clusters=k, linkage="ward", connectivity=graph).fit_predict(X)
    init = np.zeros((k, X.shape[1]))
    np.add.at(init, start, X)
    init /= np.bincount(start, minlength=k)[:, None]
    return compact(KMeans(n_clusters=k, init=init, n_init=1, random_state=seed).fit_predict(X))


def _flat_index(rows: np.ndarray) -> Any:  # a faiss.IndexFlatL2 (faiss ships no type hints)
    import faiss

    index = faiss.IndexFlatL2(rows.shape[1])
    index.add(np.ascontiguousarray(rows, dtype=np.float32))
    return index


def _search(index: Any, vectors: np.ndarray, k: int, chunk: int = 65_536) -> np.ndarray:
    """The ``k`` nearest indexed rows of each of ``vectors`` (exact), read and searched in chunks,
    so memory-mapped float32 rows are never copied whole."""
    out = np.empty((len(vectors), k), dtype=np.int64)
    for start in range(0, len(vectors), chunk):
        block = np.ascontiguousarray(vectors[start : start + chunk], dtype=np.float32)
        out[start : start + len(block)] = index.search(block, k)[1]
    return out


def knn_graph(X: np.ndarray, n_neighbors: int) -> Any:
    """Connectivity graph of each row's ``n_neighbors`` nearest other rows (as scikit-learn's
    ``kneighbors_graph(X, n_neighbors, include_self=False)``), found exactly by faiss."""
    from scipy.sparse import csr_matrix

    n = len(X)
    found = _search(_flat_index(X), X, n_neighbors + 1)
    is_self = found == np.arange(n)[:, None]
    is_self[~is_self.any(axis=1), -1] = True  # a duplicate may outrank the row itself: drop the last
    indices = found[~is_self].reshape(n, n_neighbors)
    return csr_matrix(
        (np.ones(n * n_neighbors), indices.ravel(), np.arange(0, n * n_neighbors + 1, n_neighbors)), shape=(n, n)
    )


def nearest(vectors: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (Euclidean) for every row, exact, by faiss in chunks.

    ``vectors`` may be memory-mapped float32: each chunk is read on its own, so a million rows
    never become one in-memory copy.
    """
    return _search(_flat_index(centroids), vectors, 1)[:, 0]


def smooth_centroids(centroids: np.ndarray, n_neighbors: int = 10, alpha: float = 0.5) -> np.ndarray:
    """One step: ``alpha * c + (1 - alpha) * mean(nearest centroids)``, unit length again.

    A broad theme split into many small base clusters then reads as one region, not a scatter.
    """
    from sklearn.neighbors import NearestNeighbors

    c = np.asarray(centroids, dtype=np.float64)
    nn = min(n_neighbors, len(c) - 1)
    if nn < 1:
        return unit(c)
    idx = NearestNeighbors(n_neighbors=nn + 1).fit(c).kneighbors(c, return_distance=False)
    others = np.array([[j for j in row if j != i][:nn] for i, row in enumerate(idx)])  # drop self
    return unit(alpha * c + (1 - alpha) * c[others].mean(axis=1))


def weighted_ward_tree(vectors: np.ndarray, weights: np.ndarray) -> list[tuple[float, int, int]]:
    """Ward's method from weighted points; merging a and b costs w_a w_b / (w_a + w_b) |v_a - v_b|^2.

    That is the growth of the within-cluster sum of squares had each cluster been ``w`` points at
    its centroid: the conversation-level objective, continued. Nearest-neighbour chain, O(k^2 d)
    time, O(k d) memory. Returns the merges ``(height, node_a, node_b)`` in creation order;
    leaves are nodes 0..k-1 and merge i creates node k + i.
    """
    V = np.asarray(vectors, dtype=np.float64).copy()
    w = np.asarray(weights, dtype=np.float64).copy()
    k = len(V)
    sq = np.einsum("ij,ij->i", V, V)
    active = np.ones(k, dtype=bool)
    node = np.arange(k)
    merges: list[tuple[float, int, int]] = []
    chain: list[int] = []
    while len(merges) < k - 1:
        if not chain:
            chain.append(int(np.argmax(active)))
        a = chain[-1]
        cost = (w * w[a] / (w + w[a])) * np.maximum(sq + sq[a] - 2.0 * (V @ V[a]), 0.0)
        cost[~active] = np.inf
        cost[a] = np.inf
        b = int(np.argmin(cost))
        if len(chain) > 1 and cost[chain[-2]] <= cost[b]:
            b = chain[-2]
        if len(chain) > 1 and b == chain[-2]:  # reciprocal nearest neighbours: merge them
            chain.pop()
            chain.pop()
            merges.append((float(cost[b]), int(node[a]), int(node[b])))
            lo, hi = min(a, b), max(a, b)
            V[lo] = (w[a] * V[a] + w[b] * V[b]) / (w[a] + w[b])
            w[lo] = w[a] + w[b]
            sq[lo] = V[lo] @ V[lo]
            active[hi] = False
            node[lo] = k + len(merges) - 1
        else:
            chain.append(b)
    return merges


def cut_tree(merges: list[tuple[float, int, int]], k: int, sizes: list[int]) -> list[np.ndarray]:
    """Leaf labels at each requested cluster count, replaying merges lowest first.

    Ward is reducible, so the chain's merges sorted by height form a valid dendrogram and every
    cut coarsens the cuts below it: the levels nest by construction.
    """
    first_leaf = list(range(k)) + [0] * len(merges)
    for i, (_, a, _) in enumerate(merges):
        first_leaf[k + i] = first_leaf[a]
    root = list(range(k))

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    order = sorted(range(len(merges)), key=lambda i: (merges[i][0], i))
    out: dict[int, np.ndarray] = {}
    clusters, step = k, 0
    for target in sorted({max(1, min(s, k)) for s in sizes}, reverse=True):
        while clusters > target:
            _, a, b = merges[order[step]]
            ra, rb = find(first_leaf[a]), find(first_leaf[b])
            root[max(ra, rb)] = min(ra, rb)
            clusters -= 1
            step += 1
        out[target] = compact(np.array([find(i) for i in range(k)]))
    return [out[max(1, min(s, k))] for s in sizes]


def ward_levels(
    centroids: np.ndarray,
    sizes: np.ndarray,
    level_counts: list[int],
    *,
    n_neighbors: int = 10,
    alpha: float = 0.5,
    max_exact: int = 5000,
    seed: int = 0,
) -> list[np.ndarray]:
    """The parent of every cluster at each level above the base.

    Returns one array per entry of ``level_counts``: array i maps each cluster of level i
    (0 = base) to its parent at level i + 1. Above ``max_exact`` base clusters the O(k^2) tree
    gets slow, so a size-weighted k-means first reduces them to ``max_exact`` groups (the only
    use of ``seed``).
    """
    from sklearn.cluster import KMeans

    V = unit(np.asarray(centroids, dtype=np.float64))
    w = np.asarray(sizes, dtype=np.float64)
    k = len(V)
    counts = [c for c in level_counts if c < k]
    if not counts:
        return []
    pre: np.ndarray | None = None
    if k > max_exact:
        pre = compact(KMeans(max_exact, n_init=1, random_state=seed).fit_predict(V, sample_weight=w))
        groups = int(pre.max()) + 1
        sums = np.zeros((groups, V.shape[1]))
        np.add.at(sums, pre, V * w[:, None])
        w_group = np.bincount(pre, weights=w, minlength=groups).astype(np.float64)
        V, w = unit(sums / w_group[:, None]), w_group
        counts = [c for c in counts if c < groups]
    leaf_labels = cut_tree(weighted_ward_tree(smooth_centroids(V, n_neighbors, alpha), w), len(V), counts)
    if pre is not None:
        leaf_labels = [pre] + [labels[pre] for labels in leaf_labels]
    parents, below = [], np.arange(k)
    for labels in leaf_labels:
        parent = np.zeros(int(below.max()) + 1, dtype=np.int64)
        parent[below] = labels
        parents.append(parent)
        below = labels
    return parents


def geometric_sizes(n_base: int, top: int, levels: int | None = None, max_ratio: float = 8.0) -> list[int]:
    """Cluster counts above the base, shrinking geometrically (each step at most ``max_ratio``)."""
    if n_base <= top or levels == 0:
        return []
    if levels is None:
        levels = max(1, math.ceil(math.log(n_base / top) / math.log(max_ratio) - 1e-9))
    ratio = (n_base / top) ** (1 / levels)
    sizes = [max(top, round(n_base / ratio**i)) for i in range(1, levels)] + [top]
    out: list[int] = []
    for s in sizes:
        if s < (out[-1] if out else n_base):
            out.append(s)
    return out
