"""Kura 0.5's checkpoint managers (JSONL, Parquet, several at once)."""

from kura.compat.checkpoints.base import BaseCheckpointManager
from kura.compat.checkpoints.jsonl import JSONLCheckpointManager
from kura.compat.checkpoints.multi import MultiCheckpointManager
from kura.compat.checkpoints.parquet import ParquetCheckpointManager

PARQUET_AVAILABLE = True

__all__ = [
    "BaseCheckpointManager",
    "JSONLCheckpointManager",
    "MultiCheckpointManager",
    "PARQUET_AVAILABLE",
    "ParquetCheckpointManager",
]
