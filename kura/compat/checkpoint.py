"""Kura 0.4's import path: ``CheckpointManager`` is the JSONL manager."""

from kura.compat.checkpoints import JSONLCheckpointManager as CheckpointManager

__all__ = ["CheckpointManager"]
