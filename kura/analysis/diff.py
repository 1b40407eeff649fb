"""What changed between two runs: their clusters matched by content, never by id or name alone.

Two runs (last month and this month, before and after a release) have their own cluster ids.
:func:`diff_runs` matches the clusters of one level of each tree and says what became of each:

- **By shared conversations** when the runs share enough conversation ids (at least
  ``SHARED_FOR_IDS`` of the smaller run: a re-run over grown data, a run with a source removed).
  ``overlap[i, j]`` counts the conversations in A's cluster ``i`` and B's cluster ``j``. A
  cluster less than ``PART`` of which is in both runs vanished (A) or is new (B). Otherwise
  ``i`` and ``j`` are linked when most (``LINK``) of ``i``'s conversations still in B went to
  ``j``, or most of ``j``'s conversations that A had came from ``i``: shares of the *shared*
  members, so a cluster that kept its conversations and gained as many new ones continues.
  A few shared ids (the same chat exported twice) would make every cluster look vanished and
  new, so below ``SHARED_FOR_IDS`` the runs are compared by content.
- **By content** otherwise: each cluster's centroid (the mean of its summaries' vectors) when
  both runs used the same embedder, blended with the TF-IDF similarity of names and descriptions
  (``NAME_WEIGHT``); names alone when the embedders differ. The thresholds are calibrated on the
  runs themselves, from each cluster's similarity to its nearest *other* cluster of its own run
  (clusters of one run are different topics by construction). Mutual best matches must reach
  the median of those (``MATCH_PERCENTILE``); a one-way best match (a fragment of a split or a
  merge) must reach their 95th percentile (``ATTACH_PERCENTILE``): closer than distinct
  neighbouring topics almost ever are. No cosine value is hard-coded.

Linked clusters form groups (connected components). A lone cluster of A **vanished**, a lone
cluster of B is **new**. Otherwise a group whose share of its run changed by a factor of at
least ``GROWTH`` *and* beyond sampling noise (a two-proportion z-test at ``ALPHA``: a small
cluster moving from 3 to 5 conversations is not news) **grew** or **shrank**, whatever its
shape; else one A linked to several B **split**, several A to one B **merged** (only parts
holding at least ``PART`` of each other count, so a stray fragment makes no split), and the
rest is **unchanged**. Shares, not counts, decide: a run over twice the data grows every count.

The constants were chosen on planted changes to real CLINC150 runs (``tests/test_diff.py``,
``bench/diff_thresholds.py`` prints the numbers): every planted change is reported as planted
and every untouched intent as unchanged, by ids and by content. There, same-intent clusters of
the two runs scored 0.67-0.88 against a within-run nearest-neighbour median of 0.35 and 95th
percentile of 0.54, and the one new intent's best (wrong) match scored 0.50.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kura.errors import InputError, KuraError
from kura.stages.ward import unit
from kura.store import artifacts
from kura.store.run import RunStore, is_run_dir
from kura.types import Cluster, ConversationSummary
from kura.types.tree import ClusterTree

Status = Literal["new", "grown", "shrunk", "vanished", "split", "merged", "unchanged"]
Method = Literal["auto", "ids", "content"]
#: The order changes are listed in: the news first.
STATUSES: tuple[Status, ...] = ("new", "vanished", "grown", "shrunk", "split", "merged", "unchanged")

#: Shared conversation ids, as a share of the smaller run, above which clusters are matched by them.
SHARED_FOR_IDS = 0.5
#: Two clusters are linked when their overlap is at least this share of either of them.
LINK = 0.5
#: A part of a split or a merge holds at least this share of the cluster it comes from or goes to.
PART = 0.2
#: A cluster grew or shrank when its share of its run changed by at least this factor ...
GROWTH = 1.5
#: ... and a two-sided two-proportion z-test rejects "same share" at this level.
ALPHA = 0.05
#: Weight of name similarity next to centroid similarity (content matching).
NAME_WEIGHT = 0.25
#: Percentiles of within-run nearest-other-cluster similarities that a content match must reach:
#: a mutual best match, and a one-way match (a fragment of a split or a merge).
MATCH_PERCENTILE = 50.0
ATTACH_PERCENTILE = 95.0


@dataclass(frozen=True)
class Group:
    """One cluster of one run at the compared level."""

    id: str
    name: str
    description: str
    chat_ids: frozenset[str]
    #: Unit mean of its members' summary vectors (None when the run has no vectors for them).
    centroid: np.ndarray | None = None

    @property
    def count(self) -> int:
        return len(self.chat_ids)


@dataclass
class RunClusters:
    """The clusters of one run at one level, and what content matching needs."""

    name: str
    groups: list[Group]
    #: The embedder that made the centroids (run.json's settings), to tell whether they compare.
    embedder: str | None = None

    @property
    def total(self) -> int:
        return len(set().union(*(g.chat_ids for g in self.groups))) if self.groups else 0


@dataclass
class Side:
    """A cluster as it appears in a change: its id, name, and count and share in its run."""

    id: str
    name: str
    count: int
    share: float


@dataclass
class ClusterChange:
    status: Status
    a: list[Side]
    b: list[Side]
    count_a: int
    count_b: int
    share_a: float
    share_b: float
    #: How strongly the sides matched: the overlap's Jaccard index, or the content similarity.
    similarity: float | None = None
    #: The z-test's p-value for the change in share (matched clusters only).
    p_value: float | None = None

    @property
    def name(self) -> str:
        """The name to show: run B's (the current one) when there is one."""
        return (self.b or self.a)[0].name


@dataclass
class RunDiff:
    run_a: str
    run_b: str
    #: The compared level: None for base clusters, else the tree level (0 = top).
    level: int | None
    method: Literal["ids", "content", "names"]
    total_a: int
    total_b: int
    #: Conversation ids found in both runs.
    shared: int
    changes: list[ClusterChange]
    thresholds: dict[str, float] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        found = Counter(c.status for c in self.changes)
        return {s: found.get(s, 0) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["counts"] = self.counts()
        for change, raw in zip(self.changes, out["changes"]):
            raw["name"] = change.name
        return out


# -- reading runs -------------------------------------------------------------------------------
def finished_tree(run_dir: str | Path) -> ClusterTree:
    """The cluster tree of a finished run, or one clear error saying what is missing."""
    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise InputError(
            "is not a Kura run directory (no run.json): run `kura run INPUT --out DIR` first", path=str(run_dir)
        )
    store = RunStore(run_dir)
    if not store.exists(artifacts.TREE):
        raise InputError(
            "the run has no hierarchy yet (meta_clusters.jsonl): run `kura run` again to finish it", path=str(run_dir)
        )
    return ClusterTree(store.read_models(artifacts.TREE, Cluster))


def load_clusters(run_dir: str | Path, level: int | None = None) -> RunClusters:
    """The clusters of a finished run at ``level`` (None: the base clusters; 0: the top level).

    A branch that ends above ``level`` contributes its base cluster, so every conversation is
    in exactly one compared cluster.
    """
    run_dir = Path(run_dir)
    tree = finished_tree(run_dir)
    store = RunStore(run_dir)
    depths = tree.depths()
    leaves = tree.leaves()
    if level is None:
        chosen = leaves
    else:
        deepest = max(depths.values(), default=0)
        if not 0 <= level <= deepest:
            raise KuraError(f"{run_dir}: --level {level} is not in the tree: its levels go from 0 (top) to {deepest}")
        leaf_ids = {c.id for c in leaves}
        chosen = [c for c in tree.clusters if depths[c.id] == level or (c.id in leaf_ids and depths[c.id] < level)]
    centroids = _centroids(store, chosen)
    groups = [Group(c.id, c.name, c.description, frozenset(c.chat_ids), centroids.get(c.id)) for c in chosen]
    embedder = store.meta.settings.get("embedder")
    return RunClusters(run_dir.name, groups, str(embedder) if embedder else None)


def _centroids(store: RunStore, clusters: list[Cluster]) -> dict[str, np.ndarray]:
    if not (store.exists(artifacts.VECTORS) and store.exists(artifacts.SUMMARIES)):
        return {}
    row_of = {s.chat_id: i for i, s in enumerate(store.iter_models(artifacts.SUMMARIES, ConversationSummary))}
    vectors = store.read_array(artifacts.VECTORS)
    if len(vectors) != len(row_of):
        return {}  # vectors of another set of summaries: content matching falls back to names
    out = {}
    for c in clusters:
        rows = np.asarray(vectors[sorted(row_of[i] for i in c.chat_ids if i in row_of)], dtype=np.float64)
        rows = rows[np.isfinite(rows).all(axis=1)]
        if len(rows):
            out[c.id] = unit(unit(rows).mean(axis=0, keepdims=True))[0]
    return out


# -- matching -----------------------------------------------------------------------------------
def diff_runs(run_a: str | Path, run_b: str | Path, level: int | None = None, method: Method = "auto") -> RunDiff:
    """What changed from run A to run B at ``level`` (None: base clusters); see the module docstring."""
    return diff_clusters(load_clusters(run_a, level), load_clusters(run_b, level), level=level, method=method)


def diff_clusters(a: RunClusters, b: RunClusters, *, level: int | None = None, method: Method = "auto") -> RunDiff:
    """Match the clusters of two runs and classify each group of matched clusters."""
    if not a.groups or not b.groups:
        raise KuraError(f"nothing to compare: {(a if not a.groups else b).name} has no clusters")
    ids_a = set().union(*(g.chat_ids for g in a.groups))
    ids_b = set().union(*(g.chat_ids for g in b.groups))
    shared = len(ids_a & ids_b)
    if method == "auto":
        method = "ids" if shared >= SHARED_FOR_IDS * min(len(ids_a), len(ids_b)) else "content"
    if method == "ids":
        edges, strength, major = _links_by_ids(a.groups, b.groups)
        used: Literal["ids", "content", "names"] = "ids"
        thresholds: dict[str, float] = {"link": LINK, "part": PART}
    else:
        content = _content(a, b)
        if content is None:
            raise KuraError(f"cannot compare {a.name} and {b.name} by content: each has a single cluster")
        edges, strength, major = _links_by_content(content, a, b)
        used = content.kind
        thresholds = {"similarity": round(content.match, 4), "attach": round(content.attach, 4), "part": PART}
        if content.kind == "content":
            thresholds["name_weight"] = NAME_WEIGHT
    thresholds.update(growth=GROWTH, alpha=ALPHA)
    changes = [_classify(comp_a, comp_b, a, b, edges, strength, major) for comp_a, comp_b in _components(a, b, edges)]
    changes.sort(key=lambda c: (STATUSES.index(c.status), -max(c.count_a, c.count_b)))
    return RunDiff(a.name, b.name, level, used, a.total, b.total, shared, changes, thresholds)


def _links_by_ids(groups_a: list[Group], groups_b: list[Group]) -> Links:
    """Links by the conversations both runs hold. Shares are of each cluster's *shared* members:
    a cluster that kept its conversations and gained as many new ones still continues."""
    where_b = {chat: j for j, g in enumerate(groups_b) for chat in g.chat_ids}
    overlap: Counter[tuple[int, int]] = Counter()
    for i, g in enumerate(groups_a):
        for chat in g.chat_ids:
            if chat in where_b:
                overlap[i, where_b[chat]] += 1
    kept_a: Counter[int] = Counter()
    kept_b: Counter[int] = Counter()
    for (i, j), n in overlap.items():
        kept_a[i] += n
        kept_b[j] += n
    edges, strength, major = set(), {}, set()
    for (i, j), n in overlap.items():
        # Less than PART of a cluster in both runs: it vanished (A) or is new (B), whatever few it shares.
        if kept_a[i] < PART * groups_a[i].count or kept_b[j] < PART * groups_b[j].count:
            continue
        went, came = n / kept_a[i], n / kept_b[j]
        if went >= LINK or came >= LINK:
            edges.add((i, j))
            strength[i, j] = round(n / (groups_a[i].count + groups_b[j].count - n), 4)  # Jaccard
            if went >= PART and came >= PART:
                major.add((i, j))
    return edges, strength, major


@dataclass
class _Content:
    """Cross-run similarities and the two thresholds calibrated on within-run similarities."""

    score: np.ndarray
    kind: Literal["content", "names"]
    #: A mutual best match must reach this (the median nearest-other-cluster similarity) ...
    match: float
    #: ... a one-way match (a fragment of a split or a merge) this (the 95th percentile).
    attach: float


def _content(a: RunClusters, b: RunClusters) -> _Content | None:
    nearest = []
    for run in (a, b):
        if len(run.groups) >= 2:
            within, _ = _content_similarity(run, run)
            np.fill_diagonal(within, -np.inf)
            nearest.extend(within.max(axis=1).tolist())
    if not nearest:
        return None
    score, kind = _content_similarity(a, b)
    return _Content(
        score,
        kind,
        float(np.percentile(nearest, MATCH_PERCENTILE)),
        float(np.percentile(nearest, ATTACH_PERCENTILE)),
    )


def _content_similarity(a: RunClusters, b: RunClusters) -> tuple[np.ndarray, Literal["content", "names"]]:
    names = _name_similarity(a.groups, b.groups)
    centroids = _centroid_matrix(a, b)
    if centroids is None:
        return names, "names"
    return (1 - NAME_WEIGHT) * centroids + NAME_WEIGHT * names, "content"


def _centroid_matrix(a: RunClusters, b: RunClusters) -> np.ndarray | None:
    if a.embedder is None or a.embedder != b.embedder:
        return None
    if any(g.centroid is None for g in a.groups + b.groups):
        return None
    left = np.vstack([g.centroid for g in a.groups if g.centroid is not None])
    right = np.vstack([g.centroid for g in b.groups if g.centroid is not None])
    return left @ right.T


def _name_similarity(left: list[Group], right: list[Group]) -> np.ndarray:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [f"{g.name}. {g.description}" for g in left + right]
    matrix = TfidfVectorizer(sublinear_tf=True).fit_transform(texts)
    return np.asarray((matrix[: len(left)] @ matrix[len(left) :].T).todense())


Links = tuple[set[tuple[int, int]], dict[tuple[int, int], float], set[tuple[int, int]]]


def _links_by_content(content: _Content, a: RunClusters, b: RunClusters) -> Links:
    """Mutual best matches reaching ``match``; one-way best matches reaching ``attach``."""
    score = content.score
    best_b, best_a = score.argmax(axis=1), score.argmax(axis=0)
    edges, major = set(), set()
    for i, j in enumerate(best_b.tolist()):
        if best_a[j] == i and score[i, j] >= content.match:
            edges.add((i, j))
            major.add((i, j))
    one_way = [(i, j) for i, j in enumerate(best_b.tolist())] + [(i, j) for j, i in enumerate(best_a.tolist())]
    for i, j in one_way:
        if (i, j) not in edges and score[i, j] >= content.attach:
            edges.add((i, j))
            if min(a.groups[i].count, b.groups[j].count) >= PART * max(a.groups[i].count, b.groups[j].count):
                major.add((i, j))
    return edges, {e: round(float(score[e]), 4) for e in edges}, major


def _components(a: RunClusters, b: RunClusters, edges: set[tuple[int, int]]) -> list[tuple[list[int], list[int]]]:
    """Connected groups of linked clusters: (A indices, B indices)."""
    parent = list(range(len(a.groups) + len(b.groups)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in edges:
        parent[root(i)] = root(len(a.groups) + j)
    members: dict[int, tuple[list[int], list[int]]] = {}
    for x in range(len(parent)):
        side = members.setdefault(root(x), ([], []))
        if x < len(a.groups):
            side[0].append(x)
        else:
            side[1].append(x - len(a.groups))
    return list(members.values())


def _classify(
    comp_a: list[int],
    comp_b: list[int],
    a: RunClusters,
    b: RunClusters,
    edges: set[tuple[int, int]],
    strength: dict[tuple[int, int], float],
    major: set[tuple[int, int]],
) -> ClusterChange:
    total_a, total_b = a.total, b.total
    side_a = [_side(a.groups[i], total_a) for i in comp_a]
    side_b = [_side(b.groups[j], total_b) for j in comp_b]
    count_a, count_b = sum(s.count for s in side_a), sum(s.count for s in side_b)
    links = [strength[i, j] for i in comp_a for j in comp_b if (i, j) in edges]
    change = ClusterChange(
        "unchanged",
        sorted(side_a, key=lambda s: -s.count),
        sorted(side_b, key=lambda s: -s.count),
        count_a,
        count_b,
        count_a / total_a,
        count_b / total_b,
        round(max(links), 4) if links else None,
    )
    if not comp_b:
        change.status = "vanished"
        return change
    if not comp_a:
        change.status = "new"
        return change
    # A change of size is the news: a topic that doubled is "grown" even when it now spans two clusters.
    change.p_value = _two_proportion_p(count_a, total_a, count_b, total_b)
    ratio = change.share_b / change.share_a
    parts_b = {j for i, j in major if i in comp_a and j in comp_b}
    parts_a = {i for i, j in major if i in comp_a and j in comp_b}
    if change.p_value < ALPHA and ratio >= GROWTH:
        change.status = "grown"
    elif change.p_value < ALPHA and ratio <= 1 / GROWTH:
        change.status = "shrunk"
    elif len(parts_b) >= 2 or len(parts_a) >= 2:
        change.status = "split" if len(parts_b) >= len(parts_a) else "merged"
    return change


def _side(group: Group, total: int) -> Side:
    return Side(group.id, group.name, group.count, group.count / total)


def _two_proportion_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of the z-test that two shares are equal (pooled standard error)."""
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = abs(x1 / n1 - x2 / n2) / se
    return math.erfc(z / math.sqrt(2))
