"""Kura: see what your users ask your AI for.

Load chat logs, summarise each conversation into facets, cluster the summaries, build a
hierarchy of themes and lay it all out in 2D. ``kura.run(...)`` does it in one call; the
procedural functions and types of Kura 0.5 work unchanged.
"""

from kura.checkpoints import JSONLCheckpointManager, MultiCheckpointManager, ParquetCheckpointManager
from kura.cluster import KmeansClusteringModel, generate_base_clusters_from_conversation_summaries
from kura.config import RunConfig
from kura.dimensionality import HDBUMAP, reduce_dimensionality_from_clusters
from kura.embedders import Embedder, HashingEmbedder, MiniLMEmbedder
from kura.errors import ConfigError, InputError, KuraError, StageError, StoreError
from kura.io import iter_conversations, load_conversations
from kura.kura import Kura
from kura.llm import LLM, ClioHierarchy, FakeLLM, LLMClusterNamer, LLMSummariser, get_llm
from kura.meta_cluster import reduce_clusters_from_base_clusters
from kura.pipeline import RunResult, run, run_async
from kura.stages.cluster import Clusterer, HDBSCANClusterer, KMeansClusterer
from kura.stages.hierarchy import EmbeddingHierarchy, HierarchyBuilder
from kura.stages.naming import ClusterNamer, DistinctiveTermsNamer
from kura.stages.project import PCAProjector, Projector, UMAPProjector
from kura.stages.summarise import ExtractiveSummariser, Summariser
from kura.summarisation import summarise_conversations
from kura.taxonomy import Assignment, Taxonomy
from kura.types import Cluster, Conversation, ConversationSummary, GeneratedSummary, Message, ProjectedCluster
from kura.visualization import visualise_pipeline_results

__version__ = "0.6.0"

__all__ = [
    "RunConfig",
    "Assignment",
    "Cluster",
    "ClioHierarchy",
    "ClusterNamer",
    "Clusterer",
    "ConfigError",
    "Conversation",
    "ConversationSummary",
    "DistinctiveTermsNamer",
    "Embedder",
    "EmbeddingHierarchy",
    "ExtractiveSummariser",
    "FakeLLM",
    "GeneratedSummary",
    "HDBSCANClusterer",
    "HDBUMAP",
    "HashingEmbedder",
    "HierarchyBuilder",
    "InputError",
    "JSONLCheckpointManager",
    "KMeansClusterer",
    "KmeansClusteringModel",
    "Kura",
    "KuraError",
    "LLM",
    "LLMClusterNamer",
    "LLMSummariser",
    "Message",
    "MiniLMEmbedder",
    "MultiCheckpointManager",
    "PCAProjector",
    "ParquetCheckpointManager",
    "ProjectedCluster",
    "Projector",
    "RunResult",
    "StageError",
    "StoreError",
    "Summariser",
    "Taxonomy",
    "UMAPProjector",
    "generate_base_clusters_from_conversation_summaries",
    "get_llm",
    "iter_conversations",
    "load_conversations",
    "reduce_clusters_from_base_clusters",
    "reduce_dimensionality_from_clusters",
    "run",
    "run_async",
    "summarise_conversations",
    "visualise_pipeline_results",
]
