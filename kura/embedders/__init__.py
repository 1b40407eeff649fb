"""Embedders: the seam, the offline MiniLM default, a hashing fake, and lookup by name."""

from __future__ import annotations

from kura.embedders.base import Embedder, embedder_name, encode_any, normalise
from kura.embedders.hashing import HashingEmbedder
from kura.embedders.minilm import MiniLMEmbedder
from kura.errors import ConfigError

EMBEDDERS = {
    "minilm": "all-MiniLM-L6-v2, int8 ONNX on the CPU (offline default)",
    "hashing": "hashed bag of words: instant, for tests and dry runs",
}


def get_embedder(spec: str | Embedder) -> Embedder:
    """An embedder from a name like ``minilm`` or ``hashing``, or the instance itself."""
    if isinstance(spec, Embedder):
        return spec
    if spec == "minilm":
        return MiniLMEmbedder()
    if spec == "hashing":
        return HashingEmbedder()
    raise ConfigError(f"embedder={spec!r} is unknown: use one of {', '.join(EMBEDDERS)}")


__all__ = [
    "EMBEDDERS",
    "Embedder",
    "HashingEmbedder",
    "MiniLMEmbedder",
    "embedder_name",
    "encode_any",
    "get_embedder",
    "normalise",
]
