"""Kura 0.5's methods on the seams, for the 0.5 classes only.

The core seams (kura/stages, kura/embedders) have one interface each: ``summarise_one``,
``fit_predict``, ``name_groups``, ``build``, ``encode``. Kura 0.5 code also calls
``summarise(conversations)``, ``cluster(items)``, ``embed(texts)``, ``slug()``,
``max_clusters`` and ``checkpoint_filename``: the mixins below add them to the 0.5 classes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np

from kura.types import Conversation, ConversationSummary


class Kura05Summariser:
    """``summarise(conversations)``: every conversation, in order, no cache; any failure raises."""

    checkpoint_filename: str = "summaries"

    async def summarise(
        self, conversations: list[Conversation], *args: Any, **kwargs: Any
    ) -> list[ConversationSummary]:
        from kura.errors import StageError
        from kura.stages.summarise import summarise_stream
        from kura.store.meta import Failure

        failures: list[Failure] = []
        summaries = await summarise_stream(conversations, self, failures=failures)  # type: ignore[arg-type]
        if failures:
            raise StageError("summarise", f"{len(failures)} conversations failed, first: {failures[0]['error']}")
        return summaries


class Kura05Clustering:
    """``cluster([{"embedding": [...], "item": x}, ...])`` -> ``{label: [x, ...]}``."""

    def cluster(self, items: Sequence[dict[str, Any]]) -> dict[int, list[Any]]:
        if not items:
            return {}
        labels = self.fit_predict(np.asarray([i["embedding"] for i in items], dtype=np.float32))  # type: ignore[attr-defined]
        groups: dict[int, list[Any]] = {}
        for label, item in zip(labels, items):
            groups.setdefault(int(label), []).append(item["item"])
        return groups


class Kura05Namer:
    checkpoint_filename: str = "clusters"


class Kura05Hierarchy:
    checkpoint_filename: str = "meta_clusters"

    @property
    def max_clusters(self) -> int:
        """Kura 0.5's name for the number of top-level clusters."""
        return getattr(self, "top_clusters", None) or 10


class Kura05Embedding:
    """Async ``embed(texts)`` returning lists, and ``slug()``."""

    def slug(self) -> str:
        return str(self.name)  # type: ignore[attr-defined]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = await asyncio.to_thread(self.encode, texts)  # type: ignore[attr-defined]
        return vectors.tolist()
