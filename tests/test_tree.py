"""ClusterTree: the one reader of the hierarchy's shape, and its invariant check."""

from __future__ import annotations

import pytest

from kura.types import Cluster
from kura.types.tree import ClusterTree, TreeError


def cluster(id: str, chat_ids: list[str], parent: str | None = None, name: str | None = None) -> Cluster:
    return Cluster(id=id, name=name or id, description="", slug=id, chat_ids=chat_ids, parent_id=parent)


def small_tree() -> list[Cluster]:
    # root r1 -> a (3 chats), b (1 chat); root r2 -> c (2 chats)
    return [
        cluster("a", ["1", "2", "3"], "r1"),
        cluster("b", ["4"], "r1"),
        cluster("c", ["5", "6"], "r2"),
        cluster("r1", ["1", "2", "3", "4"]),
        cluster("r2", ["5", "6"]),
    ]


def test_roots_children_paths_and_depths():
    tree = ClusterTree(small_tree())
    assert [r.id for r in tree.roots] == ["r1", "r2"]  # largest first
    assert [c.id for c in tree.children("r1")] == ["a", "b"]
    assert [c.id for c in tree.path("b")] == ["r1", "b"]
    assert tree.depths() == {"a": 1, "b": 1, "c": 1, "r1": 0, "r2": 0}
    assert [c.id for c in tree.leaves()] == ["a", "b", "c"]
    assert tree.base_of() == {"1": "a", "2": "a", "3": "a", "4": "b", "5": "c", "6": "c"}
    assert [(c.id, d) for c, d in tree.walk()] == [("r1", 0), ("a", 1), ("b", 1), ("r2", 0), ("c", 1)]
    assert tree.under("r1") == {"r1", "a", "b"}
    tree.validate(["1", "2", "3", "4", "5", "6"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda cs: cs[0].__setattr__("parent_id", "nowhere"), "missing parent"),
        (lambda cs: cs[3].__setattr__("parent_id", "a"), "own ancestor"),
        (lambda cs: cs[3].chat_ids.append("7"), "exactly the conversations of its children"),
        (lambda cs: cs.append(cluster("r3", ["6"])), "exactly one root"),
    ],
)
def test_validate_names_each_broken_invariant(change, message):
    clusters = small_tree()
    change(clusters)
    with pytest.raises(TreeError, match=message):
        ClusterTree(clusters).validate(["1", "2", "3", "4", "5", "6"])


def test_a_cycle_never_loops():
    clusters = [cluster("x", ["1"], "y"), cluster("y", ["1"], "x")]
    tree = ClusterTree(clusters)
    assert [c.id for c in tree.path("x")] == ["y", "x"]
    assert list(tree.walk()) == []  # no root reaches them
    with pytest.raises(TreeError):
        tree.validate()


def test_a_real_run_satisfies_every_invariant(tmp_path, oasst):
    import kura

    result = kura.run(oasst, tmp_path / "run", embedder="hashing", projector="pca", clusters_per_group=5)
    tree = ClusterTree(result.clusters)
    tree.validate([c.chat_id for c in oasst])
    assert len(tree.roots) >= 2 and max(tree.depths().values()) >= 1
