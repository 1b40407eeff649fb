"""Kura 0.5's ``kura.cluster``: embed summaries, cluster them, name each cluster."""

from __future__ import annotations

import random
import warnings
from abc import ABC
from typing import Any

import numpy as np

from kura.compat.checkpoints.base import BaseCheckpointManager
from kura.compat.seams import Kura05Clustering, Kura05Namer
from kura.embedders import MiniLMEmbedder, encode_any
from kura.llm.namer import LLMClusterNamer
from kura.llm.prompts import DEFAULT_CLUSTER_PROMPT
from kura.llm.registry import get_llm
from kura.stages.cluster import Clusterer, KMeansClusterer, groups_from_labels, name_base_clusters
from kura.stages.naming import ClusterGroup, ClusterNamer, DistinctiveTermsNamer
from kura.types import Cluster, ConversationSummary


class BaseClusteringMethod(Kura05Clustering, Clusterer, ABC):
    """Kura 0.5's clustering seam: Kura's ``Clusterer`` with the 0.5 ``cluster``."""


class BaseClusterDescriptionModel(Kura05Namer, ClusterNamer, ABC):
    """Kura 0.5's cluster-naming seam."""


class KmeansClusteringModel(Kura05Clustering, KMeansClusterer):
    """Kura 0.5's k-means with k = ceil(n / clusters_per_group)."""

    def __init__(self, clusters_per_group: int = 10, **kwargs: Any):
        super().__init__(clusters_per_group, **kwargs)


#: Offline cluster naming under Kura-style names.
ExtractiveClusterModel = DistinctiveTermsNamer


class ClusterDescriptionModel(Kura05Namer, LLMClusterNamer):
    """Kura 0.5's language-model cluster namer, on Kura's providers (``kura.llm``).

    Inside the pipeline it sees each cluster's most typical summaries and contrastive summaries
    from the nearest clusters (Clio); ``generate_clusters`` keeps Kura 0.5's call, whose
    contrastive examples are a seeded sample of the other clusters.
    """

    def __init__(
        self,
        model: str = "openai/gpt-4o-mini",
        max_concurrent_requests: int = 50,
        temperature: float = 0.2,
        checkpoint_filename: str = "clusters",
        console: Any = None,
    ):
        super().__init__(
            get_llm(model, max_concurrency=max_concurrent_requests),
            temperature=temperature,
        )
        self.checkpoint_filename = checkpoint_filename
        self.model = model
        self.max_concurrent_requests = max_concurrent_requests
        self.console = console

    async def generate_clusters(
        self,
        cluster_id_to_summaries: dict[int, list[ConversationSummary]],
        prompt: str = DEFAULT_CLUSTER_PROMPT,
        max_contrastive_examples: int = 10,
    ) -> list[Cluster]:
        """One named ``Cluster`` per entry; a cluster whose naming failed keeps an offline name
        and is named in a warning (Kura 0.5 dropped it)."""
        rng = random.Random(0)
        groups = []
        for label, members in cluster_id_to_summaries.items():
            others = [s.summary for other, items in cluster_id_to_summaries.items() if other != label for s in items]
            contrastive = rng.sample(others, min(max_contrastive_examples, len(others)))
            groups.append(
                ClusterGroup(
                    chat_ids=[s.chat_id for s in members], texts=[s.summary for s in members], contrastive=contrastive
                )
            )
        original = self.prompt
        self.prompt = None if prompt == DEFAULT_CLUSTER_PROMPT else prompt
        try:
            clusters = await name_base_clusters(groups, self)
        finally:
            self.prompt = original
        _warn_naming_failures(self)
        return clusters


def _warn_naming_failures(namer: Any) -> None:
    failures = getattr(namer, "failures", [])
    if failures:
        shown = "; ".join(f"{f['id']}: {f['error']}" for f in failures[:3])
        warnings.warn(f"{len(failures)} clusters kept an offline name because naming failed: {shown}", stacklevel=3)


async def generate_base_clusters_from_conversation_summaries(
    summaries: list[ConversationSummary],
    embedding_model: Any = None,
    clustering_method: Any = None,
    clustering_model: Any = None,
    checkpoint_manager: BaseCheckpointManager | None = None,
    max_contrastive_examples: int = 10,
    prompt: str | None = None,
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
        groups = groups_from_labels(
            labels, vectors, [s.chat_id for s in summaries], texts, max_contrastive=max_contrastive_examples
        )
        original = getattr(namer, "prompt", None)
        if prompt is not None and isinstance(namer, LLMClusterNamer):
            namer.prompt = None if prompt == DEFAULT_CLUSTER_PROMPT else prompt
        try:
            clusters = await name_base_clusters(groups, namer)
        finally:
            if isinstance(namer, LLMClusterNamer):
                namer.prompt = original
        _warn_naming_failures(namer)
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
    "ClusterDescriptionModel",
    "DEFAULT_CLUSTER_PROMPT",
    "ExtractiveClusterModel",
    "KmeansClusteringModel",
    "generate_base_clusters_from_conversation_summaries",
]
