"""Kura's data model. Same names and fields as Kura 0.5, so its checkpoints load unchanged."""

from .cluster import Cluster, ClusterTreeNode, GeneratedCluster
from .conversation import Conversation, Message
from .dimensionality import ProjectedCluster
from .summarisation import ConversationSummary, ExtractedProperty, GeneratedSummary

__all__ = [
    "Cluster",
    "ClusterTreeNode",
    "Conversation",
    "ConversationSummary",
    "ExtractedProperty",
    "GeneratedCluster",
    "GeneratedSummary",
    "Message",
    "ProjectedCluster",
]
