"""Stage 3: base clusters. ``Clusterer`` is the seam (k-means, mini-batch k-means, HDBSCAN).

A clusterer only assigns labels; the stage around it picks typical and contrastive examples
and asks a ``ClusterNamer`` to name every cluster.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from kura.errors import ConfigError
from kura.runner.params import Component
from kura.stages.naming import ClusterGroup, ClusterNamer, cluster_id
from kura.stages.ward import compact, nearest, ward_kmeans
from kura.types import Cluster


def base_cluster_count(n: int, clusters_per_group: int = 10, max_clusters: int | None = 5_000) -> int:
    """Kura's k rule: ceil(n / clusters_per_group), at most ``max_clusters``, between 1 and n."""
    if clusters_per_group < 1:
        raise ConfigError(f"clusters_per_group={clusters_per_group} should be >= 1")
    if max_clusters is not None and max_clusters < 1:
        raise ConfigError(f"max_clusters={max_clusters} should be >= 1 (or None for no cap)")
    k = math.ceil(n / clusters_per_group)
    if max_clusters is not None:
        k = min(k, max_clusters)
    return max(1, min(n, k))


class Clusterer(Component, ABC):
    """Assigns each row of an embedding matrix to a cluster 0..k-1 (no noise label)."""

    @abstractmethod
    def fit_predict(self, vectors: np.ndarray) -> np.ndarray:
        """Labels 0..k-1, one per row."""


class KMeansClusterer(Clusterer):
    """k-means with k = ceil(n / clusters_per_group) as in Kura, at most ``max_clusters``; or a
    fixed ``n_clusters``.

    The cap (default 5,000, reached at 50,000 conversations) keeps the base level something a
    reader can navigate and a namer can afford: Kura 0.5's uncapped rule gives 100,000 base
    clusters of 10 at a million conversations; capped, a million makes 5,000 clusters of about
    200, near Clio's "many thousands of clusters" at its scale. ``max_clusters=None`` restores
    Kura 0.5's rule. Why 5,000: see docs/scale.md ("The k rule").

    ``init="ward"`` (default) starts k-means from Ward's clusters on a nearest-neighbour graph:
    better and several times faster than k-means++ with restarts (see :mod:`kura.stages.ward`).
    Above ``sample_above`` rows it clusters a seeded sample of that size and assigns every row to
    its nearest centroid, so time and memory stay bounded (the default sample is
    ``clusters_per_group`` rows per cluster at the cap). ``minibatch=True`` uses scikit-learn's
    mini-batch k-means instead (k-means++ start).
    """

    def __init__(
        self,
        clusters_per_group: int = 10,
        *,
        n_clusters: int | None = None,
        max_clusters: int | None = 5_000,
        seed: int = 0,
        init: str = "ward",
        sample_above: int = 50_000,
        minibatch: bool = False,
    ):
        self.clusters_per_group = clusters_per_group
        self.n_clusters = n_clusters
        self.max_clusters = max_clusters
        self.seed = seed
        self.init = init
        self.sample_above = sample_above
        self.minibatch = minibatch

    @property
    def name(self) -> str:
        k = f"k{self.n_clusters}" if self.n_clusters else f"per{self.clusters_per_group}:max{self.max_clusters}"
        how = "minibatch" if self.minibatch else f"{self.init}:sample{self.sample_above}"
        return f"kmeans:{k}:seed{self.seed}:{how}"

    def k_for(self, n: int) -> int:
        """The number of clusters for ``n`` rows (``n_clusters``, else the capped Kura rule)."""
        if self.n_clusters is not None:
            if self.n_clusters < 1:
                raise ConfigError(f"n_clusters={self.n_clusters} should be >= 1")
            return min(self.n_clusters, n)
        return base_cluster_count(n, self.clusters_per_group, self.max_clusters)

    def fit_predict(self, vectors: np.ndarray) -> np.ndarray:
        n = len(vectors)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        k = self.k_for(n)
        if k == 1:
            return np.zeros(n, dtype=np.int64)
        if self.init not in ("ward", "k-means++"):
            raise ConfigError(f"init={self.init!r} is unknown: use ward or k-means++")
        if self.minibatch:
            from sklearn.cluster import MiniBatchKMeans

            return compact(
                MiniBatchKMeans(n_clusters=k, random_state=self.seed, n_init=3, batch_size=4096).fit_predict(vectors)
            )
        if n <= self.sample_above:
            return self._fit(vectors, k)
        sample = np.sort(np.random.default_rng(self.seed).choice(n, self.sample_above, replace=False))
        labels = self._fit(vectors[sample], k)
        centroids = np.zeros((int(labels.max()) + 1, vectors.shape[1]))
        np.add.at(centroids, labels, vectors[sample])
        centroids /= np.bincount(labels)[:, None]
        return compact(nearest(vectors, centroids))

    def _fit(self, vectors: np.ndarray, k: int) -> np.ndarray:
        if self.init == "ward":
            return ward_kmeans(vectors, k, seed=self.seed)
        from sklearn.cluster import KMeans

        return compact(KMeans(n_clusters=k, random_state=self.seed, n_init=3).fit_predict(vectors))


class HDBSCANClusterer(Clusterer):
    """Density-based clusters of any shape; the noise points become one cluster of their own."""

    def __init__(self, min_cluster_size: int = 10, *, min_samples: int | None = None):
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples

    @property
    def name(self) -> str:
        return f"hdbscan:{self.min_cluster_size}:{self.min_samples}"

    def fit_predict(self, vectors: np.ndarray) -> np.ndarray:
        from sklearn.cluster import HDBSCAN

        n = len(vectors)
        if n < max(2, self.min_cluster_size):
            return np.zeros(n, dtype=np.int64)
        labels = HDBSCAN(min_cluster_size=self.min_cluster_size, min_samples=self.min_samples, copy=True).fit_predict(
            vectors
        )
        # Noise is a cluster too: Kura never drops a conversation.
        labels = np.where(labels < 0, labels.max() + 1, labels)
        return compact(labels)


CLUSTERERS = {
    "kmeans": "k-means with k = ceil(n / clusters per group), at most 5,000 (default)",
    "minibatch": "mini-batch k-means: faster on very large runs",
    "hdbscan": "HDBSCAN: finds its own number of clusters, leaves outliers",
}


def get_clusterer(spec: str | Clusterer, *, clusters_per_group: int = 10, seed: int = 0) -> Clusterer:
    if isinstance(spec, Clusterer):
        return spec
    if spec == "kmeans":
        return KMeansClusterer(clusters_per_group, seed=seed)
    if spec == "minibatch":
        return KMeansClusterer(clusters_per_group, seed=seed, minibatch=True)
    if spec == "hdbscan":
        return HDBSCANClusterer(min_cluster_size=max(2, clusters_per_group))
    raise ConfigError(f"clusterer={spec!r} is unknown: use one of {', '.join(CLUSTERERS)}")


def groups_from_labels(
    labels: np.ndarray,
    vectors: np.ndarray,
    chat_ids: Sequence[str],
    texts: Sequence[str],
    *,
    max_examples: int = 25,
    max_contrastive: int = 10,
    nearby_clusters: int = 3,
) -> list[ClusterGroup]:
    """One group per label: members most typical first, plus contrastive examples from the
    nearest other clusters (Clio), each capped so that naming stays cheap on huge clusters."""
    k = int(labels.max()) + 1 if len(labels) else 0
    order = np.argsort(labels, kind="stable")  # members of every cluster in one pass, O(n log n)
    members = np.split(order, np.cumsum(np.bincount(labels, minlength=k))[:-1])
    centroids = np.vstack([vectors[m].mean(axis=0) for m in members])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    norms = np.maximum(np.linalg.norm(vectors, axis=1), 1e-12)
    typical: list[np.ndarray] = []
    for c, m in enumerate(members):
        closeness = (vectors[m] @ centroids[c]) / norms[m]  # cosine, whatever the input scale
        typical.append(m[np.argsort(-closeness, kind="stable")])
    neighbours_of = _nearest_clusters(centroids, nearby_clusters)
    groups = []
    for c in range(k):
        neighbours = neighbours_of[c]
        contrastive = [
            texts[i] for j in neighbours for i in typical[j][: max(1, max_contrastive // max(1, len(neighbours)))]
        ]
        groups.append(
            ClusterGroup(
                chat_ids=[chat_ids[i] for i in members[c]],
                texts=[texts[i] for i in typical[c][:max_examples]],
                contrastive=contrastive[:max_contrastive],
                centroid=centroids[c],
            )
        )
    return groups


def _nearest_clusters(centroids: np.ndarray, count: int) -> list[list[int]]:
    """The ``count`` nearest other clusters of each cluster (no k x k matrix: k may be 10,000+)."""
    k = len(centroids)
    count = min(count, k - 1)
    if count < 1:
        return [[] for _ in range(k)]
    from sklearn.neighbors import NearestNeighbors

    found = NearestNeighbors(n_neighbors=count + 1).fit(centroids).kneighbors(centroids, return_distance=False)
    return [[int(j) for j in row if j != c][:count] for c, row in enumerate(found)]


async def name_base_clusters(groups: list[ClusterGroup], namer: ClusterNamer) -> list[Cluster]:
    named = await namer.name_groups(groups)
    return [
        Cluster(
            id=cluster_id(0, g.chat_ids),
            name=n.name,
            description=n.summary,
            slug=n.slug,
            chat_ids=g.chat_ids,
            parent_id=None,
            named_by=n.named_by,
        )
        for g, n in zip(groups, named)
    ]
