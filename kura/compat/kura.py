"""Kura 0.4's class API, kept so old scripts run: ``Kura(...)`` then ``await cluster_conversations()``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kura.compat.checkpoints import JSONLCheckpointManager
from kura.compat.cluster import generate_base_clusters_from_conversation_summaries
from kura.compat.dimensionality import HDBUMAP, reduce_dimensionality_from_clusters
from kura.compat.meta_cluster import reduce_clusters_from_base_clusters
from kura.compat.summarisation import summarise_conversations
from kura.embedders import MiniLMEmbedder
from kura.io import load_conversations
from kura.stages.hierarchy import EmbeddingHierarchy
from kura.stages.summarise import ExtractiveSummariser
from kura.types import Cluster, Conversation, ConversationSummary, ProjectedCluster
from kura.visualization import visualise_clusters, visualise_clusters_enhanced, visualise_clusters_rich


class Kura:
    """The whole pipeline as one object. Defaults need no API key (extractive, MiniLM)."""

    def __init__(
        self,
        embedding_model: Any = None,
        summarisation_model: Any = None,
        cluster_model: Any = None,
        meta_cluster_model: Any = None,
        dimensionality_reduction: Any = None,
        checkpoint_dir: str | Path = "./checkpoints",
        max_clusters: int = 10,
        conversations: Sequence[Conversation] | None = None,
        disable_checkpoints: bool = False,
        **kwargs: Any,
    ):
        self.embedding_model = embedding_model or MiniLMEmbedder()
        self.summarisation_model = summarisation_model or ExtractiveSummariser()
        self.cluster_model = cluster_model
        self.meta_cluster_model = meta_cluster_model or EmbeddingHierarchy(top_clusters=max_clusters)
        self.dimensionality_reduction = dimensionality_reduction or HDBUMAP(embedding_model=self.embedding_model)
        self.max_clusters = max_clusters
        self.checkpoint_dir = str(checkpoint_dir)
        self.checkpoint_manager = JSONLCheckpointManager(self.checkpoint_dir, enabled=not disable_checkpoints)
        self.conversations: list[Conversation] = list(conversations or [])

    def load_conversations(self, path: str | Path, **kwargs: Any) -> list[Conversation]:
        """Read conversations from a file or folder in any supported format and keep them."""
        self.conversations = load_conversations(path, **kwargs)
        return self.conversations

    async def summarise_conversations(self, conversations: list[Conversation]) -> list[ConversationSummary]:
        return await summarise_conversations(
            conversations, model=self.summarisation_model, checkpoint_manager=self.checkpoint_manager
        )

    async def generate_base_clusters(self, summaries: list[ConversationSummary]) -> list[Cluster]:
        return await generate_base_clusters_from_conversation_summaries(
            summaries,
            embedding_model=self.embedding_model,
            clustering_model=self.cluster_model,
            checkpoint_manager=self.checkpoint_manager,
        )

    async def reduce_clusters(self, clusters: list[Cluster]) -> list[Cluster]:
        return await reduce_clusters_from_base_clusters(
            clusters,
            model=self.meta_cluster_model,
            checkpoint_manager=self.checkpoint_manager,
            embedding_model=self.embedding_model,
        )

    async def reduce_dimensionality(self, clusters: list[Cluster]) -> list[ProjectedCluster]:
        return await reduce_dimensionality_from_clusters(
            clusters, model=self.dimensionality_reduction, checkpoint_manager=self.checkpoint_manager
        )

    async def cluster_conversations(self, conversations: list[Conversation] | None = None) -> list[ProjectedCluster]:
        """Run every stage on ``conversations`` (or those loaded with ``load_conversations``)."""
        conversations = list(conversations) if conversations is not None else self.conversations
        if not conversations:
            raise ValueError("no conversations: pass them, or call load_conversations(path) first")
        summaries = await self.summarise_conversations(conversations)
        clusters = await self.generate_base_clusters(summaries)
        tree = await self.reduce_clusters(clusters)
        self.clusters = await self.reduce_dimensionality(tree)
        return self.clusters

    def visualise_clusters(self) -> None:
        visualise_clusters(checkpoint_path=Path(self.checkpoint_dir) / "meta_clusters.jsonl")

    def visualise_clusters_enhanced(self) -> None:
        visualise_clusters_enhanced(checkpoint_path=Path(self.checkpoint_dir) / "meta_clusters.jsonl")

    def visualise_clusters_rich(self) -> None:
        visualise_clusters_rich(checkpoint_path=Path(self.checkpoint_dir) / "meta_clusters.jsonl")
