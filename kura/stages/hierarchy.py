"""Stage 4: the hierarchy, from base clusters up to a few top-level themes.

``HierarchyBuilder`` is the seam. ``EmbeddingHierarchy`` needs no language model: Ward's method
continues from the base clusters' centroids, each level is a cut of that tree, and groups are
named by the phrases their children share (``kura.stages.naming``). Level sizes shrink
geometrically from the base count to the top count (Clio). Every builder here terminates (a
fixed number of levels), and a parent with a single child is never made: the child moves up
instead (both were failures of Kura 0.5).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import zip_longest

import numpy as np

from kura.errors import ConfigError
from kura.runner.params import Component
from kura.stages.naming import ClusterGroup, ClusterNamer, DistinctiveTermsNamer, cluster_id
from kura.stages.ward import geometric_sizes, unit, ward_levels
from kura.types import Cluster


def default_top_clusters(n_base: int) -> int:
    """About sqrt(base count), between 2 and 10: a first screen a person can take in."""
    return min(10, max(2, round(math.sqrt(n_base))))


def level_sizes(n_base: int, top: int, levels: int | None = None, max_ratio: float = 8.0) -> list[int]:
    """Cluster counts for each level above the base, shrinking geometrically to ``top``.

    ``levels`` defaults to as few as keep each step's ratio at most ``max_ratio``.
    """
    if top < 1:
        raise ConfigError(f"top_clusters={top} should be >= 1")
    if levels is not None and levels < 0:
        raise ConfigError(f"levels={levels} should be >= 0")
    return geometric_sizes(n_base, top, levels, max_ratio)


@dataclass
class LevelInput:
    """What a builder knows about the base clusters."""

    clusters: list[Cluster]
    vectors: np.ndarray  # one unit vector per cluster (centroid of its members)
    texts: list[list[str]]  # typical member summaries per cluster, most typical first


class HierarchyBuilder(Component, ABC):
    """Turns base clusters into a tree; returns every cluster with ``parent_id`` set."""

    uses_llm: bool = False

    def __init__(self, *, top_clusters: int | None = None, levels: int | None = None, seed: int = 0):
        self.top_clusters = top_clusters
        self.levels = levels
        self.seed = seed

    @abstractmethod
    async def build(self, base: LevelInput) -> list[Cluster]:
        """All clusters: the base ones (with parents set) and every parent."""

    def sizes_for(self, n_base: int) -> list[int]:
        top = self.top_clusters or default_top_clusters(n_base)
        return level_sizes(n_base, top, self.levels)


def interleave(lists: Sequence[Sequence[str]]) -> list[str]:
    """Round-robin merge, so every child's most typical texts come first."""
    return [t for row in zip_longest(*lists) for t in row if t is not None]


def interleave_owners(lists: Sequence[Sequence[str]]) -> list[int]:
    """For each text of ``interleave(lists)``, the index of the list it came from."""
    return [k for row in zip_longest(*lists) for k, t in enumerate(row) if t is not None]


class EmbeddingHierarchy(HierarchyBuilder):
    """Offline hierarchy: size-weighted Ward over smoothed centroids, names from distinctive terms.

    One dendrogram is cut at every level size, so levels nest by construction
    (see :mod:`kura.stages.ward` for why this method).
    """

    def __init__(
        self,
        *,
        top_clusters: int | None = None,
        levels: int | None = None,
        seed: int = 0,
        namer: ClusterNamer | None = None,
        texts_per_child: int = 8,
    ):
        super().__init__(top_clusters=top_clusters, levels=levels, seed=seed)
        self.namer = namer or DistinctiveTermsNamer()
        self.texts_per_child = texts_per_child

    @property
    def name(self) -> str:
        return f"ward-hierarchy:v1:top{self.top_clusters}:levels{self.levels}:seed{self.seed}:{self.namer.name}"

    async def build(self, base: LevelInput) -> list[Cluster]:
        everything = {c.id: c.model_copy() for c in base.clusters}
        current = [everything[c.id] for c in base.clusters]
        texts = list(base.texts)
        vectors = np.asarray(base.vectors, dtype=np.float64)
        sizes = np.array([len(c.chat_ids) for c in current], dtype=np.float64)
        parents_per_level = ward_levels(base.vectors, sizes, self.sizes_for(len(current)), seed=self.seed)
        for depth, parent_of in enumerate(parents_per_level, start=1):
            children_of = [np.flatnonzero(parent_of == label) for label in range(int(parent_of.max()) + 1)]
            weights = np.array([len(c.chat_ids) for c in current], dtype=np.float64)
            centroids = unit(np.vstack([weights[idx] @ vectors[idx] for idx in children_of]))
            groups = []
            for idx, centroid in zip(children_of, centroids):
                if len(idx) == 1:
                    continue
                largest_first = sorted(idx, key=lambda j: -len(current[j].chat_ids))
                taken = [texts[j][: self.texts_per_child] for j in largest_first]
                groups.append(
                    ClusterGroup(
                        chat_ids=[i for j in idx for i in current[j].chat_ids],
                        texts=interleave(taken),
                        children=[current[j].name for j in largest_first],
                        child_of=interleave_owners(taken),
                        centroid=centroid,
                    )
                )
            named = iter(await self.namer.name_groups(groups)) if groups else iter(())
            group_iter = iter(groups)
            next_level, next_texts = [], []
            for idx in children_of:
                if len(idx) == 1:  # no single-child parents: the child itself moves up
                    next_level.append(current[int(idx[0])])
                    next_texts.append(texts[int(idx[0])])
                    continue
                group, gen = next(group_iter), next(named)
                parent = Cluster(
                    id=cluster_id(depth, group.chat_ids),
                    name=gen.name,
                    description=gen.summary,
                    slug=gen.slug,
                    chat_ids=group.chat_ids,
                    parent_id=None,
                    named_by=gen.named_by,
                )
                everything[parent.id] = parent
                for j in idx:
                    current[j].parent_id = parent.id
                next_level.append(parent)
                next_texts.append(interleave([texts[j] for j in idx]))
            current, texts, vectors = next_level, next_texts, centroids
        return list(everything.values())
