"""Minimum cluster sizes (kura.privacy.thresholds): small clusters merge into their nearest
cluster that meets the minimums; clusters that meet them are never split."""

from __future__ import annotations

import numpy as np
import pytest

from kura.errors import KuraError
from kura.privacy.report import withhold
from kura.privacy.thresholds import enforce_minimums
from kura.types import Cluster


def _groups(labels: np.ndarray) -> list[set[int]]:
    return [set(np.flatnonzero(labels == k).tolist()) for k in np.unique(labels)]


def test_a_small_cluster_joins_its_nearest_large_one() -> None:
    # Three directions; the 2-member cluster sits next to cluster 0 (worked out by hand).
    vectors = np.array([[1, 0, 0]] * 5 + [[0, 1, 0]] * 5 + [[0.9, 0.1, 0]] * 2, dtype=np.float32)
    labels = np.array([0] * 5 + [1] * 5 + [2] * 2)
    new, merged = enforce_minimums(labels, vectors, None, min_conversations=5, min_users=1)
    assert _groups(new) == [set(range(5)) | {10, 11}, set(range(5, 10))]
    assert (merged.clusters, merged.conversations) == (1, 2)
    assert sorted(set(new.tolist())) == [0, 1]  # contiguous labels: the naming stage indexes by them


def test_distinct_users_count_not_conversations() -> None:
    vectors = np.array([[1, 0]] * 6 + [[0, 1]] * 6, dtype=np.float32)
    labels = np.array([0] * 6 + [1] * 6)
    # Cluster 1 has six conversations but all from one person: it must not stand alone.
    users = ["a", "b", "c", "d", "e", "f"] + ["z"] * 6
    new, merged = enforce_minimums(labels, vectors, users, min_conversations=2, min_users=3)
    assert len(_groups(new)) == 1 and merged.clusters == 1
    # Unknown users count together as one: they cannot make a cluster look more diverse.
    unknown = ["a", "b", "c", "d", "e", "f"] + [None] * 6
    new, _ = enforce_minimums(labels, vectors, unknown, min_conversations=2, min_users=3)
    assert len(_groups(new)) == 1


@pytest.mark.parametrize("seed", range(8))
def test_every_cluster_meets_the_minimums_and_none_that_met_them_is_split(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(40, 300))
    vectors = rng.normal(size=(n, 8)).astype(np.float32)
    labels = rng.integers(0, int(rng.integers(3, 40)), size=n)
    labels = np.unique(labels, return_inverse=True)[1]
    users = [f"u{int(u)}" for u in rng.integers(0, int(rng.integers(6, 60)), size=n)]
    min_c, min_u = int(rng.integers(2, 15)), int(rng.integers(2, 6))
    new, merged = enforce_minimums(labels, vectors, users, min_conversations=min_c, min_users=min_u)
    assert len(new) == n
    for group in _groups(new):
        assert len(group) >= min_c
        assert len({users[i] for i in group}) >= min_u
    before = _groups(labels)
    after = {frozenset(g) for g in _groups(new)}
    for group in before:
        ok = len(group) >= min_c and len({users[i] for i in group}) >= min_u
        if ok:  # it may have grown, never been split
            assert any(group <= g for g in after)
    assert merged.clusters == len(before) - len(after)
    assert merged.conversations <= n


def test_too_few_conversations_or_users_is_one_clear_error() -> None:
    vectors = np.eye(4, dtype=np.float32)
    with pytest.raises(KuraError, match="only 4 conversations"):
        enforce_minimums(np.arange(4), vectors, None, min_conversations=10, min_users=1)
    with pytest.raises(KuraError, match="only 2 distinct users"):
        enforce_minimums(np.arange(4), vectors, ["a", "a", "b", "b"], min_conversations=1, min_users=3)


def test_withholding_removes_the_subtree_and_its_conversations_everywhere() -> None:
    root = Cluster(id="r", name="r", description="", slug="r", chat_ids=["1", "2", "3", "4"])
    left = Cluster(id="l", name="l", description="", slug="l", chat_ids=["1", "2"], parent_id="r")
    right = Cluster(id="x", name="x", description="", slug="x", chat_ids=["3", "4"], parent_id="r")
    leaf = Cluster(id="x1", name="x1", description="", slug="x1", chat_ids=["3", "4"], parent_id="x")
    kept, removed = withhold([root, left, right, leaf], {"x": 1, "x1": 1})
    assert {c.id: c.chat_ids for c in kept} == {"r": ["1", "2"], "l": ["1", "2"]}
    assert removed == {"x": 2}  # x1 sits inside x: counted once
    kept, removed = withhold([root, left, right, leaf], {"r": 1})
    assert kept == [] and removed == {"r": 4}
