"""The cluster hierarchy as a tree: one place that knows roots, children, depth and paths.

Clusters are stored flat (Kura 0.5's files: each ``Cluster`` names its ``parent_id``); every
reader that needs the shape builds a ``ClusterTree`` instead of walking parent ids itself.
``validate`` is the one invariant check, used by the pipeline after building a hierarchy and by
the tests.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Generic, TypeVar

from kura.errors import KuraError
from kura.types.cluster import Cluster

C = TypeVar("C", bound=Cluster)


class TreeError(KuraError):
    """A hierarchy that breaks an invariant (a missing parent, a cycle, a conversation lost)."""


class ClusterTree(Generic[C]):
    """Clusters by id with their children (largest first, then by name) and their depth.

    A cluster whose parent is missing or absent is a root. Cycles are reported by ``validate``;
    the other members never loop on them.
    """

    def __init__(self, clusters: Iterable[C]):
        self.clusters: list[C] = list(clusters)
        self.by_id: dict[str, C] = {c.id: c for c in self.clusters}
        self._children: dict[str, list[C]] = {c.id: [] for c in self.clusters}
        for c in self.clusters:
            if c.parent_id is not None and c.parent_id in self.by_id and c.parent_id != c.id:
                self._children[c.parent_id].append(c)
        for kids in self._children.values():
            kids.sort(key=_largest_first)
        self.roots: list[C] = sorted(
            (c for c in self.clusters if c.parent_id is None or c.parent_id not in self.by_id), key=_largest_first
        )

    def __len__(self) -> int:
        return len(self.clusters)

    def __contains__(self, cluster_id: object) -> bool:
        return cluster_id in self.by_id

    def __getitem__(self, cluster_id: str) -> C:
        return self.by_id[cluster_id]

    def children(self, cluster_id: str) -> list[C]:
        return self._children[cluster_id]

    def parent(self, cluster_id: str) -> C | None:
        parent_id = self.by_id[cluster_id].parent_id
        return self.by_id.get(parent_id) if parent_id is not None else None

    def path(self, cluster_id: str) -> list[C]:
        """From the root down to ``cluster_id`` (stops at a cycle instead of looping)."""
        out: list[C] = []
        seen: set[str] = set()
        node: C | None = self.by_id[cluster_id]
        while node is not None and node.id not in seen:
            seen.add(node.id)
            out.append(node)
            node = self.parent(node.id)
        return out[::-1]

    def depth(self, cluster_id: str) -> int:
        """Roots are level 0, their children 1, ... (Kura 0.5's convention)."""
        return len(self.path(cluster_id)) - 1

    def depths(self) -> dict[str, int]:
        return {c.id: self.depth(c.id) for c in self.clusters}

    def leaves(self) -> list[C]:
        """The base clusters: clusters without children, in stored order."""
        return [c for c in self.clusters if not self._children[c.id]]

    def base_of(self) -> dict[str, str]:
        """The base cluster of every conversation."""
        return {chat_id: leaf.id for leaf in self.leaves() for chat_id in leaf.chat_ids}

    def walk(self) -> Iterator[tuple[C, int]]:
        """Every cluster reachable from a root, depth first, with its depth (roots are 0)."""
        stack = [(root, 0) for root in reversed(self.roots)]
        seen: set[str] = set()
        while stack:
            node, depth = stack.pop()
            if node.id in seen:
                continue
            seen.add(node.id)
            yield node, depth
            stack.extend((child, depth + 1) for child in reversed(self._children[node.id]))

    def under(self, cluster_id: str) -> set[str]:
        """Ids of ``cluster_id`` and every cluster below it."""
        out, stack = set(), [cluster_id]
        while stack:
            node = stack.pop()
            if node not in out:
                out.add(node)
                stack.extend(c.id for c in self._children[node])
        return out

    def validate(self, chat_ids: Sequence[str] | None = None) -> None:
        """Raise ``TreeError`` unless the tree is sound.

        Every parent exists; no cluster is its own ancestor; every parent holds exactly the
        conversations of its children; and, when ``chat_ids`` is given, every one of them sits
        under exactly one root.
        """
        for c in self.clusters:
            if c.parent_id is not None and c.parent_id not in self.by_id:
                raise TreeError(f"cluster {c.id} points to a missing parent {c.parent_id}")
        if len(set(self.by_id)) != len(self.clusters):
            raise TreeError("two clusters share an id")
        reachable = {node.id for node, _ in self.walk()}
        if len(reachable) != len(self.clusters):
            stuck = next(c.id for c in self.clusters if c.id not in reachable)
            raise TreeError(f"cluster {stuck} is its own ancestor (a cycle in parent ids)")
        for c in self.clusters:
            kids = self._children[c.id]
            if kids and sorted(c.chat_ids) != sorted(i for k in kids for i in k.chat_ids):
                raise TreeError(f"cluster {c.id} does not hold exactly the conversations of its children")
        if chat_ids is not None:
            covered = [i for root in self.roots for i in root.chat_ids]
            if sorted(covered) != sorted(chat_ids):
                raise TreeError("the hierarchy does not place every conversation under exactly one root")


def _largest_first(c: Cluster) -> tuple[int, str]:
    return (-len(c.chat_ids), c.name)
