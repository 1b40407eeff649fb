"""Stage 5: the 2D map. ``Projector`` is the seam (UMAP seeded by default, on a sample at scale; PCA).

Conversations are projected from their embeddings; each cluster sits at the mean position of
its conversations, so a cluster's dot lies among its members at every level of the tree.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

import numpy as np

from kura.errors import ConfigError
from kura.runner.params import Component
from kura.types import Cluster, ProjectedCluster
from kura.types.tree import ClusterTree

#: Below this many points UMAP computes exact neighbours (its own threshold, umap.umap_).
PLACE_CHUNK = 65_536  # rows placed at once (x 384 floats: about 100 MB)
UMAP_EXACT_BELOW = 4_096


class Projector(Component, ABC):
    """Lays vectors out in 2-D."""

    @abstractmethod
    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        """An (n, 2) float array."""

    def warm_up(self) -> None:
        """Do now, on made-up data, the one-off work the first ``fit_transform`` would pay for
        (imports, compilation), without changing any later result. Nothing by default."""


class UMAPProjector(Projector):
    """UMAP with a fixed seed (same seed, same map). Falls back to PCA below 5 points.

    Up to ``sample_size`` points, UMAP lays out every point. Above, UMAP lays out a seeded
    uniform sample of ``sample_size`` points and places every other point beside its nearest
    sampled point (exact neighbours in the vectors, by ``metric``, from scikit-learn): there,
    moved a tenth of the way towards the mean position of its ``n_neighbors`` nearest sampled
    points weighted by UMAP's membership strengths (the start UMAP's ``transform`` uses). The
    nearest point alone keeps neighbours together best but stacks points on one spot; the
    weighted mean alone lands in the gaps between clusters; UMAP's ``transform`` scores like the
    nearest point and costs minutes (BENCHMARKS.md, "Map at scale"). The default sample stays
    under 4,096 points, below which UMAP finds neighbours exactly instead of compiling and
    running its approximate search.
    """

    #: How far a placed point moves from its nearest sampled point towards its neighbours' mean.
    pull = 0.1

    def __init__(
        self,
        *,
        n_neighbors: int = 15,
        min_dist: float = 0.1,
        metric: str = "cosine",
        seed: int = 0,
        sample_size: int = 4_000,
    ):
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.seed = seed
        self.sample_size = sample_size

    @property
    # v2: exact neighbours from scikit-learn (last bits of the map differ from v1): old runs recompute.
    def name(self) -> str:
        return f"umap:v2:{self.n_neighbors}:{self.min_dist}:{self.metric}:seed{self.seed}:sample{self.sample_size}"

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        n = len(vectors)
        if n < 5:
            return PCAProjector(seed=self.seed).fit_transform(vectors)
        if self.sample_size < 5:
            raise ConfigError(f"sample_size={self.sample_size} should be >= 5 (UMAP needs a few points)")
        if n <= self.sample_size:
            return self._umap(vectors)
        rows = self.sample_rows(n)
        rest = np.setdiff1d(np.arange(n), rows)
        points = np.zeros((n, 2))
        sample = np.asarray(vectors[rows])
        points[rows] = self._umap(sample)
        # Placed a chunk at a time: each row's place depends only on the sample, so the result is
        # the same, and a million memory-mapped rows are never copied (and normalised) at once.
        for start in range(0, len(rest), PLACE_CHUNK):
            chunk = rest[start : start + PLACE_CHUNK]
            points[chunk] = self.place(np.asarray(vectors[chunk]), sample, points[rows])
        return points

    def warm_up(self) -> None:
        """Import UMAP and compile its numba functions (5-10 s of CPU on 2 cores, in every fresh
        process) by laying out and placing a few hundred seeded random points. Every result stays
        the same: compiled code does not depend on who compiled it, UMAP draws from a generator of
        its own per call, and these points touch nothing else."""
        vectors = np.random.default_rng(self.seed).normal(size=(300, 16)).astype(np.float32)
        points = self._umap(vectors[:250])
        self.place(vectors[250:], vectors[:250], points)

    def sample_rows(self, n: int) -> np.ndarray:
        """The rows UMAP lays out when there are more than ``sample_size``: seeded, sorted."""
        if n <= self.sample_size:
            return np.arange(n)
        return np.sort(np.random.default_rng(self.seed).choice(n, size=self.sample_size, replace=False))

    def place(self, vectors: np.ndarray, sample: np.ndarray, sample_points: np.ndarray) -> np.ndarray:
        """Each of ``vectors`` beside its nearest ``sample`` point, pulled towards its neighbours."""
        from umap.umap_ import smooth_knn_dist

        k = min(self.n_neighbors, len(sample))
        distances, neighbours = self.neighbours(vectors, sample, k)
        # UMAP's transform: local_connectivity 0 for points outside the fitted set, so each
        # weight is exp(-d / sigma) with sigma set per point so the weights sum to log2(k).
        sigmas, _ = smooth_knn_dist(distances, float(k), local_connectivity=0.0)
        # Measured from the nearest neighbour (the same weights once normalised), so the nearest
        # always weighs 1 and a row never sums to zero; sigma is 0 only when all distances are.
        weights = np.exp(-(distances - distances[:, :1]) / np.maximum(sigmas, 1e-12)[:, None])
        weights /= weights.sum(axis=1, keepdims=True)
        nearest = sample_points[neighbours[:, 0]]
        return nearest + self.pull * (np.einsum("ik,ikd->id", weights, sample_points[neighbours]) - nearest)

    def neighbours(self, vectors: np.ndarray, sample: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest ``sample`` rows of each of ``vectors`` by ``metric``, exactly:
        float32 distances (in the metric's own units) and row numbers, nearest first."""
        from sklearn import config_context
        from sklearn.neighbors import NearestNeighbors
        from sklearn.preprocessing import normalize

        metric = self.metric
        # By scikit-learn's fast search (chunked, threaded) where it gives the same neighbours:
        # between unit vectors, cosine distance is half the squared euclidean distance. A zero
        # vector has no direction: cosine puts it at distance 1 from every other (as UMAP does),
        # the euclidean shortcut at 0.5, nearer than most true neighbours.
        shortcut = metric == "cosine" and bool(np.any(sample, axis=1).all() and np.any(vectors, axis=1).all())
        if shortcut:
            sample, vectors, metric = normalize(sample), normalize(vectors), "euclidean"
        with config_context(working_memory=128):  # MB per chunk of distances: bounded memory
            search = NearestNeighbors(n_neighbors=k, metric=metric, algorithm="brute").fit(sample)
            distances, rows = search.kneighbors(vectors)
        if shortcut:
            distances = distances**2 / 2
        return np.ascontiguousarray(distances, dtype=np.float32), rows

    def _umap(self, vectors: np.ndarray) -> np.ndarray:
        import warnings

        from umap import UMAP

        k = min(self.n_neighbors, len(vectors) - 1)
        # Below 4,096 points UMAP finds neighbours exactly, through scikit-learn's pairwise
        # distances with its numba metric as a Python callable: one call per pair, 8 million at
        # 4,000 points, 15 s on 2 cores. The same exact neighbours from the fast search take
        # under a second (BENCHMARKS.md, "Language models: throughput and requests"). Above,
        # UMAP's own approximate search is the right tool.
        distances, rows = self.neighbours(vectors, vectors, k) if len(vectors) < UMAP_EXACT_BELOW else (None, None)
        with warnings.catch_warnings():
            # "n_jobs overridden to 1 by setting random_state": that is the point of a seed.
            warnings.filterwarnings("ignore", message=".*n_jobs.*")
            # ...and without UMAP's search index there is no ``transform``: Kura never calls it.
            warnings.filterwarnings("ignore", message=".*knn_search_index.*")
            model = UMAP(
                n_components=2,
                n_neighbors=k,
                min_dist=self.min_dist,
                metric=self.metric,
                random_state=self.seed,
                precomputed_knn=(rows, distances),
            )
            return np.asarray(model.fit_transform(vectors), dtype=np.float64)


class PCAProjector(Projector):
    """Linear and instant: for very large runs or a first look."""

    def __init__(self, *, seed: int = 0):
        self.seed = seed

    @property
    def name(self) -> str:
        return f"pca:seed{self.seed}"

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        n = len(vectors)
        out = np.zeros((n, 2))
        if n < 2:
            return out
        from sklearn.decomposition import PCA

        dims = min(2, n, vectors.shape[1])
        out[:, :dims] = PCA(n_components=dims, random_state=self.seed).fit_transform(vectors)
        return out


PROJECTORS = {"umap": "UMAP (best layout)", "pca": "PCA (instant, for very large runs)"}


def get_projector(spec: str | Projector, *, seed: int = 0) -> Projector:
    if isinstance(spec, Projector):
        return spec
    if spec == "umap":
        return UMAPProjector(seed=seed)
    if spec == "pca":
        return PCAProjector(seed=seed)
    raise ConfigError(f"projector={spec!r} is unknown: use one of {', '.join(PROJECTORS)}")


def cluster_levels(clusters: Iterable[Cluster]) -> dict[str, int]:
    """Depth of each cluster: roots are level 0, their children 1, ... (Kura 0.5's convention)."""
    return ClusterTree(clusters).depths()


def place_clusters(tree: ClusterTree, points: np.ndarray, chat_index: dict[str, int]) -> list[ProjectedCluster]:
    """Each cluster at the mean position of its conversations, with its level in the tree."""
    levels = tree.depths()
    out = []
    for c in tree.clusters:
        rows = [chat_index[i] for i in c.chat_ids if i in chat_index]
        x, y = points[rows].mean(axis=0) if rows else (0.0, 0.0)
        out.append(
            ProjectedCluster(**c.model_dump(exclude={"count"}), x_coord=float(x), y_coord=float(y), level=levels[c.id])
        )
    return out
