"""Kura 0.5's checkpoint-manager interface: save and load lists of pydantic models by name."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

T = TypeVar("T", bound=BaseModel)


class BaseCheckpointManager(ABC):
    #: The file ending this manager adds to a checkpoint name.
    suffix = ""

    def __init__(self, checkpoint_dir: str | Path, *, enabled: bool = True):
        self.checkpoint_dir = Path(checkpoint_dir)
        self.enabled = enabled
        if self.enabled:
            self.setup_checkpoint_dir()

    def setup_checkpoint_dir(self) -> None:
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)

    def get_checkpoint_path(self, filename: str) -> Path:
        if self.suffix and not filename.endswith(self.suffix):
            filename += self.suffix
        return self.checkpoint_dir / filename

    @abstractmethod
    def load_checkpoint(self, filename: str, model_class: type[T], **kwargs: Any) -> list[T] | None:
        """The saved items, or None when there is no (or an empty) checkpoint."""

    @abstractmethod
    def save_checkpoint(self, filename: str, data: list[T], **kwargs: Any) -> None:
        """Replace the checkpoint with ``data``."""

    def list_checkpoints(self) -> list[str]:
        if not self.enabled or not self.checkpoint_dir.exists():
            return []
        return sorted(p.name for p in self.checkpoint_dir.iterdir() if p.is_file() and p.name.endswith(self.suffix))

    def delete_checkpoint(self, filename: str) -> bool:
        if not self.enabled:
            return False
        path = self.get_checkpoint_path(filename)
        if path.exists():
            path.unlink()
            return True
        return False

    def is_enabled(self) -> bool:
        return self.enabled

    def __repr__(self) -> str:
        return f"{type(self).__name__}(checkpoint_dir='{self.checkpoint_dir}', enabled={self.enabled})"
