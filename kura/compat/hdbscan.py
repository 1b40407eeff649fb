"""Kura 0.5's ``kura.hdbscan``: density clusters, noise kept as a cluster of its own."""

from __future__ import annotations

from typing import Any

from kura.compat.seams import Kura05Clustering
from kura.stages.cluster import HDBSCANClusterer


class HDBSCANClusteringMethod(Kura05Clustering, HDBSCANClusterer):
    def __init__(self, min_cluster_size: int = 10, min_samples: int | None = None, **kwargs: Any):
        super().__init__(min_cluster_size, min_samples=min_samples)


__all__ = ["HDBSCANClusteringMethod"]
