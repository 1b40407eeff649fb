"""Stage 5: the 2D map. ``Projector`` is the seam (UMAP seeded by default, PCA for huge runs).

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


class Projector(Component, ABC):
    """Lays vectors out in 2-D."""

    @abstractmethod
    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        """An (n, 2) float array."""


class UMAPProjector(Projector):
    """UMAP with a fixed seed (same seed, same map). Falls back to PCA below 5 points."""

    def __init__(self, *, n_neighbors: int = 15, min_dist: float = 0.1, metric: str = "cosine", seed: int = 0):
        self.n_neighbors = n_neighbors
        self.min_dist = min_dist
        self.metric = metric
        self.seed = seed

    @property
    def name(self) -> str:
        return f"umap:{self.n_neighbors}:{self.min_dist}:{self.metric}:seed{self.seed}"

    def fit_transform(self, vectors: np.ndarray) -> np.ndarray:
        n = len(vectors)
        if n < 5:
            return PCAProjector(seed=self.seed).fit_transform(vectors)
        import warnings

        from umap import UMAP

        with warnings.catch_warnings():
            # "n_jobs overridden to 1 by setting random_state": that is the point of a seed.
            warnings.filterwarnings("ignore", message=".*n_jobs.*")
            model = UMAP(
                n_components=2,
                n_neighbors=min(self.n_neighbors, n - 1),
                min_dist=self.min_dist,
                metric=self.metric,
                random_state=self.seed,
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
