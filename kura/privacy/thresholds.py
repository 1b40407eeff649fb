"""Minimum cluster sizes: no base cluster holds fewer than ``min_conversations`` conversations
or (when user ids are known) fewer than ``min_users`` distinct users.

A base cluster below either minimum is merged into the nearest cluster that meets both (cosine
of centroids), before any cluster is named, so every name is written from a group at least that
large. Parents hold their children's members, so they meet the minimums too. When no cluster
meets them yet, the smallest one is merged into its nearest neighbour until one does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kura.errors import KuraError

#: Conversations without a user id count together as one user: they can never make a cluster
#: look as if it came from more people than it does.
UNKNOWN_USER = ""


@dataclass
class Merged:
    """What enforcing the minimums did."""

    clusters: int = 0
    conversations: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"clusters": self.clusters, "conversations": self.conversations}


def enforce_minimums(
    labels: np.ndarray,
    vectors: np.ndarray,
    users: Sequence[str | None] | None,
    *,
    min_conversations: int,
    min_users: int,
) -> tuple[np.ndarray, Merged]:
    """New labels (0..k-1) in which every cluster meets both minimums, and what was merged.

    ``users`` gives each row's user id (None where unknown); without it ``min_users`` is not
    applied. Raises when the whole input cannot meet the minimums.
    """
    labels = np.asarray(labels).copy()
    user_of = [u or UNKNOWN_USER for u in users] if users is not None and min_users > 1 else None
    members: dict[int, list[int]] = {}
    for row, label in enumerate(labels.tolist()):
        members.setdefault(int(label), []).append(row)
    _check_whole(len(labels), user_of, min_conversations, min_users)

    def small(rows: list[int]) -> bool:
        return len(rows) < min_conversations or (user_of is not None and len({user_of[r] for r in rows}) < min_users)

    merged = Merged()
    while True:
        below = sorted((k for k, rows in members.items() if small(rows)), key=lambda k: (len(members[k]), k))
        if not below:
            return np.unique(labels, return_inverse=True)[1].reshape(-1), merged  # labels 0..k-1 again
        ok = [k for k in members if k not in set(below)]
        # Into clusters that already meet the minimums: they only grow, so one pass is enough.
        # With none yet, the smallest goes into its nearest neighbour and the check repeats.
        movers, targets = (below, ok) if ok else (below[:1], [k for k in members if k != below[0]])
        nearest = _nearest(vectors, members, movers, targets)
        for mover, target in zip(movers, nearest):
            merged.clusters += 1
            merged.conversations += len(members[mover])
            labels[members[mover]] = target
            members[target].extend(members.pop(mover))


def _check_whole(n: int, user_of: list[str] | None, min_conversations: int, min_users: int) -> None:
    if n < min_conversations:
        raise KuraError(
            f"--min-conversations {min_conversations}: the run has only {n} conversations, so no cluster "
            "could be shown; give more conversations or a lower --min-conversations"
        )
    if user_of is not None and len(set(user_of)) < min_users:
        raise KuraError(
            f"--min-users {min_users}: the conversations come from only {len(set(user_of))} distinct users, so "
            "no cluster could be shown; give more users' conversations, a lower --min-users, or --min-users 1"
        )


def _nearest(vectors: np.ndarray, members: dict[int, list[int]], movers: list[int], targets: list[int]) -> list[int]:
    """For each mover, the target whose centroid is most similar to its own."""

    def centroids(keys: list[int]) -> np.ndarray:
        c = np.vstack([vectors[members[k]].mean(axis=0) for k in keys])
        return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)

    similarity = centroids(movers) @ centroids(targets).T
    return [targets[int(i)] for i in similarity.argmax(axis=1)]
