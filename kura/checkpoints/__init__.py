"""Kura 0.5's checkpoint managers (JSONL, Parquet, several at once)."""

from kura.checkpoints.base import BaseCheckpointManager
from kura.checkpoints.jsonl import JSONLCheckpointManager
from kura.checkpoints.multi import MultiCheckpointManager
from kura.checkpoints.parquet import ParquetCheckpointManager

PARQUET_AVAILABLE = True

__all__ = [
    "BaseCheckpointManager",
    "JSONLCheckpointManager",
    "MultiCheckpointManager",
    "PARQUET_AVAILABLE",
    "ParquetCheckpointManager",
]
