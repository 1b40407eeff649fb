"""Checkpoints as JSONL, one ``model_dump_json()`` per line (Kura 0.5's default format)."""

from __future__ import annotations

from typing import Any

from kura.compat.checkpoints.base import BaseCheckpointManager, T
from kura.store.run import atomic_write


class JSONLCheckpointManager(BaseCheckpointManager):
    suffix = ".jsonl"

    def load_checkpoint(self, filename: str, model_class: type[T], **kwargs: Any) -> list[T] | None:
        if not self.enabled:
            return None
        path = self.get_checkpoint_path(filename)
        if not path.exists():
            return None
        with open(path, encoding="utf-8") as f:
            data = [model_class.model_validate_json(line) for line in f if line.strip()]
        return data or None

    def save_checkpoint(self, filename: str, data: list[T], **kwargs: Any) -> None:
        if self.enabled:
            atomic_write(self.get_checkpoint_path(filename), (item.model_dump_json() for item in data))
