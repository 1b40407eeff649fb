"""Several checkpoint backends at once: save to all, load from the first that has the data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kura.compat.checkpoints.base import BaseCheckpointManager, T


class MultiCheckpointManager(BaseCheckpointManager):
    def __init__(
        self,
        managers: Sequence[BaseCheckpointManager],
        *,
        save_strategy: str = "all_enabled",
        load_strategy: str = "first_found",
    ):
        if not managers:
            raise ValueError("MultiCheckpointManager needs at least one checkpoint manager")
        self.managers = list(managers)
        self.save_strategy = save_strategy
        self.load_strategy = load_strategy
        super().__init__(self.managers[0].checkpoint_dir, enabled=any(m.enabled for m in self.managers))

    def load_checkpoint(self, filename: str, model_class: type[T], **kwargs: Any) -> list[T] | None:
        for manager in self.managers:
            if manager.enabled:
                data = manager.load_checkpoint(filename, model_class, **kwargs)
                if data:
                    return data
        return None

    def save_checkpoint(self, filename: str, data: list[T], **kwargs: Any) -> None:
        targets = [m for m in self.managers if m.enabled]
        if self.save_strategy == "primary_only":
            targets = targets[:1]
        for manager in targets:
            manager.save_checkpoint(filename, data, **kwargs)

    def list_checkpoints(self) -> list[str]:
        return sorted({name for m in self.managers for name in m.list_checkpoints()})

    def delete_checkpoint(self, filename: str) -> bool:
        return any([m.delete_checkpoint(filename) for m in self.managers])
