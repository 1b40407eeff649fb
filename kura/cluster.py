"""Kura 0.5's ``kura.cluster``: embed summaries, cluster them, name each cluster."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from kura.checkpoints.base import BaseCheckpointManager
from kura.embedders import MiniLMEmbedder, encode_any
from kura.stages.cluster import Clusterer, KMeansClusterer, groups_from_labels, name_base_clusters
from kura.stages.naming import ClusterNamer, DistinctiveTermsNamer
from kura.types import Cluster, ConversationSummary


class KmeansClusteringModel(KMeansClusterer):
    """Kura 0.5's k-means with k = ceil(n / clusters_per_group)."""

    def __init__(self, clusters_per_group: int = 10, **kwargs: Any):
        super().__init__(clusters_per_group, **kwargs)


#: Offline cluster naming under Kura-style names.
ExtractiveClusterModel = DistinctiveTermsNamer
BaseClusterDescriptionModel = ClusterNamer
BaseClusteringMethod = Clusterer


async def generate_base_clusters_from_conversation_summaries(
    summaries: list[ConversationSummary],
    embedding_model: Any = None,
    clustering_method: Any = None,
    clustering_model: Any = None,
    checkpoint_manager: Optional[BaseCheckpointManager] = None,
    max_contrastive_examples: int = 10,
    prompt: Optional[str] = None,
    *,
    model: Any = None,
    **kwargs: Any,
) -> list[Cluster]:
    """Base clusters for ``summaries``. ``model`` is accepted as another name for
    ``clustering_model`` (Kura 0.5's README passes ``model=``; 0.5 itself ignored it)."""
    if not summaries:
        raise ValueError("Empty summaries list provided")
    namer = clustering_model or model or DistinctiveTermsNamer()
    filename = getattr(namer, "checkpoint_filename", "clusters")
    if checkpoint_manager:
        cached = checkpoint_manager.load_checkpoint(filename, Cluster)
        if cached:
            return cached
    embedding_model = embedding_model or MiniLMEmbedder()
    clustering_method = clustering_method or KmeansClusteringModel()
    texts = [s.summary for s in summaries]
    vectors = encode_any(embedding_model, texts)
    if isinstance(clustering_method, Clusterer):
        labels = clustering_method.fit_predict(vectors)
    else:  # a Kura 0.5 clustering method: {label: [summary, ...]}
        mapping = clustering_method.cluster([{"embedding": v, "item": s} for v, s in zip(vectors, summaries)])
        where = {s.chat_id: label for label, items in mapping.items() for s in items}
        labels = np.unique([where[s.chat_id] for s in summaries], return_inverse=True)[1]
    if isinstance(namer, ClusterNamer):
        groups = groups_from_labels(labels, vectors, [s.chat_id for s in summaries], texts, max_contrastive=max_contrastive_examples)
        clusters = await name_base_clusters(groups, namer)
    else:  # a Kura 0.5 description model
        by_label: dict[int, list[ConversationSummary]] = {}
        for label, s in zip(labels, summaries):
            by_label.setdefault(int(label), []).append(s)
        extra = {"prompt": prompt} if prompt is not None else {}
        clusters = await namer.generate_clusters(
            cluster_id_to_summaries=by_label, max_contrastive_examples=max_contrastive_examples, **extra
        )
    if checkpoint_manager:
        checkpoint_manager.save_checkpoint(filename, clusters)
    return clusters


__all__ = [
    "BaseClusterDescriptionModel",
    "BaseClusteringMethod",
    "ExtractiveClusterModel",
    "KmeansClusteringModel",
    "generate_base_clusters_from_conversation_summaries",
]
