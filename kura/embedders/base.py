"""The embedder seam: texts in, an (n, d) float32 array of unit vectors out."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from kura.runner.params import Component


class Embedder(Component, ABC):
    """Turns texts into vectors. Subclasses implement ``encode`` and ``name``.

    An object written for Kura 0.5 (async ``embed`` returning lists) works too, through
    :func:`encode_any`; ``kura.compat`` gives Kura 0.5's classes their old methods.
    """

    #: Texts per call to the model; the pipeline caches vectors item by item around it.
    batch_size: int = 64
    not_fingerprinted = frozenset({"batch_size", "threads"})

    @abstractmethod
    def encode(self, texts: list[str]) -> np.ndarray:
        """Return unit-length float32 vectors, one row per text."""

    def encode_each(self, texts: list[str]) -> tuple[dict[int, np.ndarray], dict[int, str]]:
        """Vectors by position in ``texts`` and, for texts that could not be embedded, why not.

        An embedder whose provider can fail for some texts only (an API) overrides this; the
        default embeds all or raises.
        """
        return dict(enumerate(self.encode(texts))), {}


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Scale rows to unit length (zero rows stay zero) so dot products are cosine similarities."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        vectors = vectors.reshape(len(vectors), -1)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def encode_any(model: Any, texts: list[str]) -> np.ndarray:
    """Encode with a Kura embedder, or any object with Kura 0.5's async ``embed``."""
    if isinstance(model, Embedder):
        return model.encode(texts)
    return normalise(np.asarray(run_sync(model.embed(texts)), dtype=np.float32))


def encode_each(model: Any, texts: list[str]) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    """``Embedder.encode_each`` for a Kura embedder, all or nothing for a Kura 0.5 one."""
    if isinstance(model, Embedder):
        return model.encode_each(texts)
    return dict(enumerate(encode_any(model, texts))), {}


def embedder_name(model: Any) -> str:
    if isinstance(model, Embedder):
        return model.name
    slug = getattr(model, "slug", None)
    return str(slug() if callable(slug) else type(model).__name__)


def run_sync(coro: Any) -> Any:
    """Run a coroutine from sync code, also when an event loop is already running in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
