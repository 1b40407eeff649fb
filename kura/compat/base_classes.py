"""Kura 0.5's ``kura.base_classes``: the seams under their old names."""

from kura.compat.checkpoints.base import BaseCheckpointManager
from kura.compat.cluster import BaseClusterDescriptionModel, BaseClusteringMethod
from kura.compat.dimensionality import BaseDimensionalityReduction
from kura.compat.embedding import BaseEmbeddingModel
from kura.compat.meta_cluster import BaseMetaClusterModel
from kura.compat.summarisation import BaseSummaryModel

__all__ = [
    "BaseCheckpointManager",
    "BaseClusterDescriptionModel",
    "BaseClusteringMethod",
    "BaseDimensionalityReduction",
    "BaseEmbeddingModel",
    "BaseMetaClusterModel",
    "BaseSummaryModel",
]
