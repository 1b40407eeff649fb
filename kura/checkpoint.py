"""Kura 0.4's import path: ``CheckpointManager`` is the JSONL manager."""

from kura.checkpoints import JSONLCheckpointManager as CheckpointManager

__all__ = ["CheckpointManager"]
