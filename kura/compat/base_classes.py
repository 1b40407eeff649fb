"""Kura 0.5's ``kura.base_classes``: the seams under their old names."""

from kura.compat.checkpoints.base import BaseCheckpointManager
from kura.compat.dimensionality import BaseDimensionalityReduction
from kura.embedders import BaseEmbeddingModel
from kura.stages.cluster import Clusterer as BaseClusteringMethod
from kura.stages.hierarchy import HierarchyBuilder as BaseMetaClusterModel
from kura.stages.naming import ClusterNamer as BaseClusterDescriptionModel
from kura.stages.summarise import Summariser as BaseSummaryModel

__all__ = [
    "BaseCheckpointManager",
    "BaseClusterDescriptionModel",
    "BaseClusteringMethod",
    "BaseDimensionalityReduction",
    "BaseEmbeddingModel",
    "BaseMetaClusterModel",
    "BaseSummaryModel",
]
