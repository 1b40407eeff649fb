"""Every file of a run directory, named once: its format, what it holds, and how to read it.

Stages, the explorer, ``kura sql`` and the CLI refer to these constants, never to file names.
The JSONL checkpoints keep Kura 0.5's names and line format, so its tools read them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from kura.types import Cluster, Conversation, ConversationSummary, ProjectedCluster

Format = Literal["jsonl", "npy", "parquet", "json", "sqlite", "duckdb", "lock"]


@dataclass(frozen=True)
class Artifact:
    file: str
    format: Format
    holds: str
    #: The pydantic model of one line, for JSONL artifacts.
    model: type[BaseModel] | None = None


CONVERSATIONS = Artifact("conversations.jsonl", "jsonl", "the conversations as loaded", Conversation)
SUMMARIES = Artifact("summaries.jsonl", "jsonl", "one ConversationSummary per conversation", ConversationSummary)
VECTORS = Artifact("vectors.npy", "npy", "float32 summary embeddings, one row per summary (memory-mapped)")
CLUSTERS = Artifact("clusters.jsonl", "jsonl", "the base clusters", Cluster)
TREE = Artifact("meta_clusters.jsonl", "jsonl", "the whole hierarchy: base clusters and their parents", Cluster)
POINTS = Artifact("points.npy", "npy", "float32 2-D map position of each summary, same rows as vectors")
MAP = Artifact("dimensionality.jsonl", "jsonl", "every cluster with its map position and level", ProjectedCluster)
CONVERSATION_TABLE = Artifact("conversations.parquet", "parquet", "one row per conversation: facets, path, x, y")
CLUSTER_TABLE = Artifact("clusters.parquet", "parquet", "one row per cluster")
ASSIGNMENTS = Artifact(
    "assignments.jsonl",
    "jsonl",
    "kura classify: each conversation's cluster, path, confidence and whether it is possibly new",
)
OUTCOMES = Artifact("outcomes.parquet", "parquet", "per-conversation outcomes joined by chat_id (kura outcomes)")
DATABASE = Artifact(
    "kura.duckdb", "duckdb", "every table of the run in one DuckDB database, for kura sql and other tools"
)
PRIVACY_REPORT = Artifact(
    "privacy.json", "json", "--privacy: what was scrubbed, merged and withheld, and why (kura.privacy)"
)
ERRORS = Artifact("errors.jsonl", "jsonl", "items that failed (id, stage, error); retried by the next run")
SIDECAR = Artifact("run.json", "json", "settings, inputs, counts, and each stage's fingerprint and digest")
CACHE = Artifact("cache.sqlite", "sqlite", "item cache: summaries, vectors and model answers by content")
LOCK = Artifact("run.lock", "lock", "held while a run writes the folder")

ALL = (
    CONVERSATIONS,
    SUMMARIES,
    VECTORS,
    CLUSTERS,
    TREE,
    POINTS,
    MAP,
    CONVERSATION_TABLE,
    CLUSTER_TABLE,
    ASSIGNMENTS,
    OUTCOMES,
    DATABASE,
    PRIVACY_REPORT,
    ERRORS,
    SIDECAR,
    CACHE,
    LOCK,
)
