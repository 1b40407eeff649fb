"""Kura 0.5's public names and import paths keep working."""

import importlib

import kura


def test_all_names_exist_and_are_exported():
    missing = [name for name in kura.__all__ if not hasattr(kura, name)]
    assert missing == []
    for name in [
        "Conversation",
        "Message",
        "ConversationSummary",
        "Cluster",
        "ProjectedCluster",
        "summarise_conversations",
        "generate_base_clusters_from_conversation_summaries",
        "reduce_clusters_from_base_clusters",
        "reduce_dimensionality_from_clusters",
        "JSONLCheckpointManager",
        "ParquetCheckpointManager",
        "visualise_pipeline_results",
        "run",
    ]:
        assert name in kura.__all__, name


def test_kura05_import_paths():
    paths = {
        "kura.types": [
            "Conversation",
            "Message",
            "ConversationSummary",
            "Cluster",
            "ProjectedCluster",
            "GeneratedSummary",
        ],
        "kura.types.summarisation": ["ConversationSummary", "GeneratedSummary"],
        "kura.types.dimensionality": ["ProjectedCluster"],
        "kura.types.cluster": ["Cluster", "ClusterTreeNode", "GeneratedCluster"],
        "kura.types.conversation": ["Conversation", "Message"],
        "kura.summarisation": ["summarise_conversations"],
        "kura.cluster": ["generate_base_clusters_from_conversation_summaries", "KmeansClusteringModel"],
        "kura.meta_cluster": ["reduce_clusters_from_base_clusters"],
        "kura.dimensionality": ["HDBUMAP", "reduce_dimensionality_from_clusters"],
        "kura.embedding": ["SentenceTransformerEmbeddingModel", "BaseEmbeddingModel", "embed_summaries"],
        "kura.k_means": ["KmeansClusteringMethod", "MiniBatchKmeansClusteringMethod"],
        "kura.hdbscan": ["HDBSCANClusteringMethod"],
        "kura.checkpoints": [
            "JSONLCheckpointManager",
            "ParquetCheckpointManager",
            "MultiCheckpointManager",
            "BaseCheckpointManager",
        ],
        "kura.checkpoint": ["CheckpointManager"],
        "kura.cache": ["DiskCacheStrategy", "CacheStrategy"],
        "kura.visualization": [
            "visualise_pipeline_results",
            "visualise_clusters",
            "visualise_clusters_enhanced",
            "visualise_clusters_rich",
        ],
        "kura.v1.visualization": ["visualise_pipeline_results"],
        "kura.base_classes": ["BaseSummaryModel", "BaseEmbeddingModel", "BaseClusteringMethod", "BaseMetaClusterModel"],
        "kura.kura": ["Kura"],
    }
    for module, names in paths.items():
        mod = importlib.import_module(module)
        for name in names:
            assert hasattr(mod, name), f"{module}.{name}"


def test_field_names_match_kura05():
    from kura.types import Cluster, ConversationSummary, ProjectedCluster

    assert set(ConversationSummary.model_fields) == {
        "summary",
        "request",
        "topic",
        "languages",
        "task",
        "concerning_score",
        "user_frustration",
        "assistant_errors",
        "chat_id",
        "metadata",
        "embedding",
    }
    # Kura 0.5's fields, plus one with a default that Kura 0.5's own class ignores when it reads ours.
    kura05 = {"id", "name", "description", "slug", "chat_ids", "parent_id"}
    assert set(Cluster.model_fields) == kura05 | {"named_by"}
    assert Cluster.model_fields["named_by"].default is None
    c = Cluster(name="n", description="d", slug="s", chat_ids=["a", "b"], parent_id=None)
    assert c.model_dump()["count"] == 2
    assert set(ProjectedCluster.model_fields) - set(Cluster.model_fields) == {"x_coord", "y_coord", "level"}


def test_kura05_checkpoint_lines_load():
    """A line as Kura 0.5 writes it (computed ``count`` included) loads unchanged."""
    from kura.types import Cluster, ConversationSummary

    line = '{"id":"abc","name":"Help","description":"d","slug":"help_me_now","chat_ids":["1","2"],"parent_id":null,"count":2}'
    assert Cluster.model_validate_json(line).chat_ids == ["1", "2"]
    summary = ConversationSummary.model_validate_json(
        '{"summary":"s","request":null,"topic":null,"languages":["english"],"task":null,"concerning_score":1,'
        '"user_frustration":2,"assistant_errors":null,"chat_id":"1","metadata":{"conversation_turns":2},"embedding":null}'
    )
    assert summary.user_frustration == 2 and summary.metadata["conversation_turns"] == 2
