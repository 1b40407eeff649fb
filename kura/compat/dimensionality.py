"""Kura 0.5's ``kura.dimensionality``: place clusters on a 2D map."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from kura.compat.checkpoints.base import BaseCheckpointManager
from kura.embedders import MiniLMEmbedder, encode_any
from kura.stages.project import UMAPProjector, cluster_levels
from kura.types import Cluster, ProjectedCluster


class BaseDimensionalityReduction(ABC):
    checkpoint_filename: str = "dimensionality"

    @abstractmethod
    async def reduce_dimensionality(self, clusters: list[Cluster]) -> list[ProjectedCluster]: ...


class HDBUMAP(BaseDimensionalityReduction):
    """Embeds each cluster's name and description and lays them out with seeded UMAP."""

    def __init__(
        self,
        embedding_model: Any = None,
        n_components: int = 2,
        min_dist: float = 0.1,
        metric: str = "cosine",
        n_neighbors: int | None = None,
        seed: int = 0,
    ):
        if n_components != 2:
            raise ValueError(f"n_components={n_components}: Kura's maps are 2D, use 2")
        self.embedding_model = embedding_model
        self.min_dist = min_dist
        self.metric = metric
        self.n_neighbors = n_neighbors
        self.seed = seed

    async def reduce_dimensionality(self, clusters: list[Cluster]) -> list[ProjectedCluster]:
        if not clusters:
            return []
        vectors = encode_any(self.embedding_model or MiniLMEmbedder(), [str(c) for c in clusters])
        projector = UMAPProjector(
            n_neighbors=self.n_neighbors or 15, min_dist=self.min_dist, metric=self.metric, seed=self.seed
        )
        points = projector.fit_transform(np.asarray(vectors))
        levels = cluster_levels(clusters)
        return [
            ProjectedCluster(**c.model_dump(exclude={"count"}), x_coord=float(x), y_coord=float(y), level=levels[c.id])
            for c, (x, y) in zip(clusters, points)
        ]


async def reduce_dimensionality_from_clusters(
    clusters: list[Cluster],
    *,
    model: BaseDimensionalityReduction,
    checkpoint_manager: BaseCheckpointManager | None = None,
) -> list[ProjectedCluster]:
    filename = getattr(model, "checkpoint_filename", "dimensionality")
    if checkpoint_manager:
        cached = checkpoint_manager.load_checkpoint(filename, ProjectedCluster)
        if cached:
            return cached
    projected = await model.reduce_dimensionality(clusters)
    if checkpoint_manager:
        checkpoint_manager.save_checkpoint(filename, projected)
    return projected


__all__ = ["BaseDimensionalityReduction", "HDBUMAP", "reduce_dimensionality_from_clusters"]
