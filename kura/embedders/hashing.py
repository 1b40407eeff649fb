"""A fast, dependency-free embedder for tests and huge dry runs.

Words (and word pairs) are hashed into a fixed number of signed buckets, so texts that share
vocabulary get similar vectors: clusters still mean something, which a random fake would not give.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np

from kura.embedders.base import Embedder, normalise

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset(
    "a an the and or but if of to in on at for with by from is are was were be been it this that "
    "i you he she we they me my your our their do does did can could would should will how what "
    "why when where which who please".split()
)


class HashingEmbedder(Embedder):
    def __init__(self, dim: int = 256):
        self.dim = dim

    @property
    def name(self) -> str:
        return f"hashing:{self.dim}"

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = [w for w in _WORD.findall(text.lower()) if w not in _STOP]
            features = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
            for feature in features:
                h = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dim] += 1.0 if (h >> 32) & 1 else -1.0
        return normalise(out)
