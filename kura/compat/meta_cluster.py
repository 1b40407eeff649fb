"""Kura 0.5's ``kura.meta_cluster``: build the hierarchy above the base clusters."""

from __future__ import annotations

import logging
from abc import ABC
from typing import Any

from kura.compat.checkpoints.base import BaseCheckpointManager
from kura.compat.seams import Kura05Hierarchy
from kura.embedders import MiniLMEmbedder, encode_any
from kura.llm.clio import ClioHierarchy
from kura.llm.registry import get_llm
from kura.stages.hierarchy import EmbeddingHierarchy, HierarchyBuilder, LevelInput
from kura.types import Cluster

logger = logging.getLogger(__name__)


class BaseMetaClusterModel(Kura05Hierarchy, HierarchyBuilder, ABC):
    """Kura 0.5's hierarchy seam: Kura's ``HierarchyBuilder`` with ``max_clusters``."""


class ExtractiveMetaClusterModel(Kura05Hierarchy, EmbeddingHierarchy):
    """The offline hierarchy under a Kura-style name."""


class MetaClusterModel(Kura05Hierarchy, ClioHierarchy):
    """Kura 0.5's language-model hierarchy, built the Clio way (``kura.llm.clio``): it always
    terminates, every round makes progress, and no parent has a single child.

    ``embedding_model`` embeds cluster names for ``reduce_clusters_from_base_clusters`` (the
    offline MiniLM when not given); ``clustering_model`` is accepted for compatibility only:
    neighbourhoods come from Kura's own k-means.
    """

    def __init__(
        self,
        max_concurrent_requests: int = 50,
        model: str = "openai/gpt-4o-mini",
        embedding_model: Any = None,
        clustering_model: Any = None,
        max_clusters: int = 10,
        console: Any = None,
        **kwargs: Any,
    ):
        super().__init__(get_llm(model, max_concurrency=max_concurrent_requests), top_clusters=max_clusters, **kwargs)
        self.model = model
        self.max_concurrent_requests = max_concurrent_requests
        self.embedding_model = embedding_model
        self.clustering_model = clustering_model
        self.console = console


async def reduce_clusters_from_base_clusters(
    clusters: list[Cluster],
    *,
    model: Any,
    checkpoint_manager: BaseCheckpointManager | None = None,
    embedding_model: Any = None,
) -> list[Cluster]:
    """Every cluster of the tree: the base ones with parents set, plus the parents.

    Kura builders get the clusters' name-and-description vectors. A Kura 0.5 model (one
    ``reduce_clusters`` round at a time) is looped until ``max_clusters`` roots remain, but
    stops when a round merges nothing instead of looping forever (Kura 0.5 #125).
    """
    filename = getattr(model, "checkpoint_filename", "meta_clusters")
    if checkpoint_manager:
        cached = checkpoint_manager.load_checkpoint(filename, Cluster)
        if cached:
            return cached
    if isinstance(model, HierarchyBuilder):
        embedder = embedding_model or getattr(model, "embedding_model", None) or MiniLMEmbedder()
        vectors = encode_any(embedder, [str(c) for c in clusters])
        result = await model.build(
            LevelInput(clusters=clusters, vectors=vectors, texts=[[c.description] for c in clusters])
        )
        failures = getattr(model, "failures", [])
        if failures:
            shown = "; ".join(f"{f['id']}: {f['error']}" for f in failures[:3])
            logger.warning("%d hierarchy calls failed and used offline stand-ins: %s", len(failures), shown)
    else:
        result = await _loop_kura_model(clusters, model)
    if checkpoint_manager:
        checkpoint_manager.save_checkpoint(filename, result)
    return result


async def _loop_kura_model(clusters: list[Cluster], model: Any) -> list[Cluster]:
    everything = list(clusters)
    roots = list(clusters)
    limit = getattr(model, "max_clusters", None) or getattr(model, "top_clusters", None) or 10
    while len(roots) > limit:
        new_level = await model.reduce_clusters(roots)
        new_roots = [c for c in new_level if c.parent_id is None]
        if not new_roots or len(new_roots) >= len(roots):
            logger.warning("hierarchy round made no progress (%d roots); stopping", len(roots))
            break
        replaced = {c.id for c in new_level}
        everything = [c for c in everything if c.id not in replaced] + new_level
        roots = new_roots
    return everything


__all__ = [
    "BaseMetaClusterModel",
    "ExtractiveMetaClusterModel",
    "MetaClusterModel",
    "reduce_clusters_from_base_clusters",
]
