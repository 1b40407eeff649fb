"""Stage 4: the hierarchy, from base clusters up to a few top-level themes.

``HierarchyBuilder`` is the seam. ``EmbeddingHierarchy`` needs no language model: each level
groups the clusters below it by their centroid vectors and names the groups by distinctive
terms. Level sizes shrink geometrically from the base count to the top count (Clio). Every
builder here terminates (a fixed number of levels), and a parent with a single child is never
made: the child moves up instead (both were failures of Kura 0.5).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from itertools import zip_longest
from typing import Optional

import numpy as np

from kura.errors import ConfigError
from kura.stages.naming import ClusterGroup, ClusterNamer, DistinctiveTermsNamer, cluster_id
from kura.types import Cluster


def default_top_clusters(n_base: int) -> int:
    """About sqrt(base count), between 2 and 10: a first screen a person can take in."""
    return min(10, max(2, round(math.sqrt(n_base))))


def level_sizes(n_base: int, top: int, levels: Optional[int] = None, max_ratio: float = 8.0) -> list[int]:
    """Cluster counts for each level above the base, shrinking geometrically to ``top``.

    ``levels`` defaults to as few as keep each step's ratio at most ``max_ratio``.
    """
    if top < 1:
        raise ConfigError(f"top_clusters={top} should be >= 1")
    if levels is not None and levels < 0:
        raise ConfigError(f"levels={levels} should be >= 0")
    if n_base <= top or levels == 0:
        return []
    if levels is None:
        levels = max(1, math.ceil(math.log(n_base / top) / math.log(max_ratio) - 1e-9))
    ratio = (n_base / top) ** (1 / levels)
    sizes = [max(top, round(n_base / ratio**i)) for i in range(1, levels)] + [top]
    out: list[int] = []
    for s in sizes:  # strictly shrinking, never reaching the base count
        if s < (out[-1] if out else n_base):
            out.append(s)
    return out


@dataclass
class LevelInput:
    """What a builder knows about the base clusters."""

    clusters: list[Cluster]
    vectors: np.ndarray  # one unit vector per cluster (centroid of its members)
    texts: list[list[str]]  # typical member summaries per cluster, most typical first


class HierarchyBuilder(ABC):
    """Turns base clusters into a tree; returns every cluster with ``parent_id`` set."""

    uses_llm: bool = False
    checkpoint_filename: str = "meta_clusters"

    def __init__(self, *, top_clusters: Optional[int] = None, levels: Optional[int] = None, seed: int = 0):
        self.top_clusters = top_clusters
        self.levels = levels
        self.seed = seed

    @property
    def max_clusters(self) -> int:
        """Kura 0.5's name for the number of top-level clusters."""
        return self.top_clusters or 10

    @property
    @abstractmethod
    def name(self) -> str:
        """Everything that changes the tree: part of the stage fingerprint."""

    @abstractmethod
    async def build(self, base: LevelInput) -> list[Cluster]:
        """All clusters: the base ones (with parents set) and every parent."""

    def sizes_for(self, n_base: int) -> list[int]:
        top = self.top_clusters or default_top_clusters(n_base)
        return level_sizes(n_base, top, self.levels)


def group_centroids(vectors: np.ndarray, weights: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Group cluster centroids into ``k`` parents: size-weighted k-means on unit vectors."""
    from sklearn.cluster import KMeans

    if k >= len(vectors):
        return np.arange(len(vectors))
    model = KMeans(n_clusters=k, random_state=seed, n_init=10)
    return model.fit_predict(vectors, sample_weight=weights)


def _interleave(lists: list[list[str]]) -> list[str]:
    """Round-robin merge, so every child's most typical texts come first."""
    return [t for row in zip_longest(*lists) for t in row if t is not None]


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)


class EmbeddingHierarchy(HierarchyBuilder):
    """Offline hierarchy: centroid grouping per level, names from distinctive terms."""

    def __init__(
        self,
        *,
        top_clusters: Optional[int] = None,
        levels: Optional[int] = None,
        seed: int = 0,
        namer: Optional[ClusterNamer] = None,
        texts_per_child: int = 8,
    ):
        super().__init__(top_clusters=top_clusters, levels=levels, seed=seed)
        self.namer = namer or DistinctiveTermsNamer()
        self.texts_per_child = texts_per_child

    @property
    def name(self) -> str:
        return f"embedding-hierarchy:v1:top{self.top_clusters}:levels{self.levels}:seed{self.seed}:{self.namer.name}"

    async def build(self, base: LevelInput) -> list[Cluster]:
        everything = {c.id: c.model_copy() for c in base.clusters}
        current = [everything[c.id] for c in base.clusters]
        vectors = _unit(np.asarray(base.vectors, dtype=np.float64))
        texts = list(base.texts)
        for depth, size in enumerate(self.sizes_for(len(current)), start=1):
            if len(current) <= size:
                break
            weights = np.array([len(c.chat_ids) for c in current], dtype=np.float64)
            labels = group_centroids(vectors, weights, size, self.seed)
            groups, children_of = [], []
            for label in sorted(set(labels.tolist())):
                idx = np.flatnonzero(labels == label)
                children_of.append(idx)
                groups.append(
                    ClusterGroup(
                        chat_ids=[i for j in idx for i in current[j].chat_ids],
                        texts=[t for j in idx for t in texts[j][: self.texts_per_child]],
                        children=[current[j].name for j in sorted(idx, key=lambda j: -len(current[j].chat_ids))],
                    )
                )
            named = await self.namer.name_groups(groups)
            next_level, next_vectors, next_texts = [], [], []
            for idx, group, gen in zip(children_of, groups, named):
                if len(idx) == 1:  # no single-child parents: the child itself moves up
                    only = int(idx[0])
                    next_level.append(current[only])
                    next_vectors.append(vectors[only])
                    next_texts.append(texts[only])
                    continue
                parent = Cluster(
                    id=cluster_id(depth, group.chat_ids),
                    name=gen.name,
                    description=gen.summary,
                    slug=gen.slug,
                    chat_ids=group.chat_ids,
                    parent_id=None,
                )
                everything[parent.id] = parent
                for j in idx:
                    current[j].parent_id = parent.id
                w = weights[idx][:, None]
                next_level.append(parent)
                next_vectors.append((vectors[idx] * w).sum(axis=0) / w.sum())
                # Interleave children's typical texts so each child is represented in the name.
                next_texts.append(_interleave([texts[j] for j in idx]))
            if len(next_level) == len(current):
                break  # nothing merged: stop rather than loop (Kura 0.5 #125)
            current, vectors, texts = next_level, _unit(np.vstack(next_vectors)), next_texts
        return list(everything.values())
