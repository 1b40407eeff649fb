"""Kura 0.5's ``kura.k_means``."""

from __future__ import annotations

from typing import Any

from kura.compat.seams import Kura05Clustering
from kura.stages.cluster import KMeansClusterer


class KmeansClusteringMethod(Kura05Clustering, KMeansClusterer):
    def __init__(self, clusters_per_group: int = 10, **kwargs: Any):
        super().__init__(clusters_per_group, **kwargs)


class MiniBatchKmeansClusteringMethod(Kura05Clustering, KMeansClusterer):
    """Always mini-batch k-means (Kura 0.5 used it for large datasets)."""

    def __init__(
        self, clusters_per_group: int = 10, batch_size: int = 1000, max_iter: int = 100, random_state: int = 42
    ):
        super().__init__(clusters_per_group, seed=random_state, minibatch=True)
        self.batch_size = batch_size
        self.max_iter = max_iter


__all__ = ["KmeansClusteringMethod", "MiniBatchKmeansClusteringMethod"]
