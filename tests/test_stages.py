"""Each stage on small inputs whose right answer is worked out by hand."""

import asyncio

import numpy as np
import pytest

from kura.errors import ConfigError
from kura.stages.cluster import HDBSCANClusterer, KMeansClusterer, groups_from_labels
from kura.stages.hierarchy import EmbeddingHierarchy, LevelInput, default_top_clusters, level_sizes
from kura.stages.naming import ClusterGroup, DistinctiveTermsNamer, distinctive_terms
from kura.stages.project import PCAProjector, UMAPProjector, cluster_levels
from kura.stages.summarise import ExtractiveSummariser, clean_text, shorten, summarise_stream
from kura.types import Cluster, Conversation, Message


def conv(chat_id, *texts, role="user"):
    return Conversation(
        chat_id=chat_id,
        messages=[Message(role=role if i % 2 == 0 else "assistant", content=t) for i, t in enumerate(texts)],
    )


# -- summarise ---------------------------------------------------------------------------------


def test_extractive_summary_skips_greetings_masks_contacts_and_finds_code_languages():
    c = Conversation(
        chat_id="a",
        messages=[
            Message(role="user", content="hi!"),
            Message(role="assistant", content="Hello, how can I help?"),
            Message(
                role="user",
                content="Fix my script, mail me at jo.doe@example.com or +44 20 7946 0958:\n```python\nprint(1)\n```",
            ),
            Message(role="assistant", content="```js\nconsole.log(1)\n```"),
        ],
    )
    s = asyncio.run(ExtractiveSummariser().summarise_one(c))
    assert s.summary.startswith("Fix my script")
    assert "example.com" not in s.summary and "7946" not in s.summary and "print(1)" not in s.summary
    assert "[email]" in s.summary and "[phone]" in s.summary and "[code]" in s.summary
    assert s.languages == ["javascript", "python"]
    assert s.concerning_score is None and s.user_frustration is None  # not guessed


def test_shorten_prefers_a_sentence_end():
    text = "First sentence is here and it is long enough. " + "word " * 50
    assert shorten(clean_text(text), 20) == "First sentence is here and it is long enough."
    assert shorten("one two three", 20) == "one two three"
    assert shorten("a b c d e f", 3) == "a b c…"


def test_summarise_stream_records_failures_keeps_order_and_ids():
    good = [conv(f"c{i}", f"question number {i}") for i in range(5)]
    no_user = Conversation(chat_id="bad", messages=[Message(role="assistant", content="only me")])
    failures = []
    out = asyncio.run(summarise_stream([good[0], no_user, *good[1:]], ExtractiveSummariser(), failures=failures))
    assert [s.chat_id for s in out] == ["c0", "c1", "c2", "c3", "c4"]
    assert [f.model_dump() for f in failures] == [
        {"id": "bad", "stage": "summarise", "error": "ValueError: the conversation has no user message to summarise"}
    ]


def test_identical_conversations_share_cache_but_keep_their_own_ids(tmp_path):
    from kura.store.cache import ItemCache

    a = Conversation(chat_id="a", messages=[Message(role="user", content="same text")], metadata={"user": "alice"})
    b = Conversation(chat_id="b", messages=[Message(role="user", content="same text")], metadata={"user": "bob"})
    with ItemCache(tmp_path / "c.sqlite") as cache:
        out = asyncio.run(summarise_stream([a, b], ExtractiveSummariser(), cache=cache))
        assert cache.count("summary") == 1
    assert [(s.chat_id, s.metadata["user"]) for s in out] == [("a", "alice"), ("b", "bob")]


# -- cluster -----------------------------------------------------------------------------------


def blobs(sizes, dim=8, seed=0, spread=0.05):
    rng = np.random.default_rng(seed)
    centres = np.eye(dim)[: len(sizes)]
    x = np.vstack([c + rng.normal(0, spread, (n, dim)) for c, n in zip(centres, sizes)])
    return x.astype(np.float32), np.repeat(np.arange(len(sizes)), sizes)


def same_grouping(a, b):
    pairs = {(int(x), int(y)) for x, y in zip(a, b)}
    return len(pairs) == len(set(a)) == len(set(b))


def test_kmeans_uses_kuras_k_rule_and_recovers_blobs():
    x, truth = blobs([10, 10, 10])
    clusterer = KMeansClusterer(10, seed=0)
    assert clusterer.k_for(30) == 3 and clusterer.k_for(31) == 4 and clusterer.k_for(3) == 1
    assert same_grouping(clusterer.fit_predict(x), truth)
    assert np.array_equal(clusterer.fit_predict(x), KMeansClusterer(10, seed=0).fit_predict(x))


def test_kmeans_samples_large_inputs_minibatch_on_request_and_validates_settings():
    x, truth = blobs([40, 40, 40])
    assert same_grouping(KMeansClusterer(n_clusters=3, sample_above=30).fit_predict(x), truth)
    assert same_grouping(KMeansClusterer(n_clusters=3, init="k-means++").fit_predict(x), truth)
    assert same_grouping(KMeansClusterer(n_clusters=3, minibatch=True).fit_predict(x), truth)
    with pytest.raises(ConfigError, match="clusters_per_group=0 should be >= 1"):
        KMeansClusterer(0).fit_predict(x)


def test_hdbscan_keeps_noise_as_its_own_cluster():
    x, _ = blobs([20, 20])
    outliers = np.full((3, 8), 5.0, dtype=np.float32) + np.arange(3)[:, None] * 3
    labels = HDBSCANClusterer(min_cluster_size=5).fit_predict(np.vstack([x, outliers]))
    assert len(labels) == 43 and labels.min() == 0
    assert len(set(labels[:20])) == 1 and len(set(labels[20:40])) == 1
    assert set(labels[40:]).isdisjoint(set(labels[:40]))  # the noise, kept


def test_kura05_cluster_interface():
    from kura.k_means import KmeansClusteringMethod  # Kura 0.5's class keeps 0.5's method

    x, truth = blobs([5, 5])
    items = [{"embedding": v.tolist(), "item": f"s{i}"} for i, v in enumerate(x)]
    groups = KmeansClusteringMethod(5).cluster(items)
    assert sorted(len(v) for v in groups.values()) == [5, 5]
    assert {frozenset(v) for v in groups.values()} == {
        frozenset(f"s{i}" for i in range(5)),
        frozenset(f"s{i}" for i in range(5, 10)),
    }


def test_groups_put_typical_first_and_take_contrast_from_nearest_cluster():
    x = np.array([[1, 0, 0], [0.9, 0.1, 0], [0.6, 0.4, 0], [0, 1, 0], [0.1, 0.9, 0], [0, 0, 1]], dtype=np.float32)
    labels = np.array([0, 0, 0, 1, 1, 2])
    texts = [f"t{i}" for i in range(6)]
    groups = groups_from_labels(labels, x, [f"c{i}" for i in range(6)], texts, max_contrastive=2, nearby_clusters=1)
    assert groups[0].texts[0] == "t1"  # closest to the centroid of rows 0-2
    assert groups[0].contrastive and set(groups[0].contrastive) <= {"t3", "t4"}  # cluster 1 is nearest


# -- naming ------------------------------------------------------------------------------------


def test_distinctive_terms_prefer_what_sets_a_group_apart():
    groups = [
        ["reset my password", "forgot password reset", "password reset link broken"],
        ["book a flight to rome", "cheap flight tickets", "flight delayed what now"],
    ]
    terms = distinctive_terms(groups)
    assert terms[0][0] in ("password", "reset", "password reset")  # each used by all three
    assert terms[1] == ["flight"]  # the only phrase two of them share
    named = DistinctiveTermsNamer().name_groups_sync([ClusterGroup(chat_ids=["1", "2", "3"], texts=g) for g in groups])
    assert named[1].name == "Flight" and named[1].slug == "flight"
    assert "book a flight to rome" in named[1].summary


def test_a_group_with_nothing_shared_says_so():
    named = DistinctiveTermsNamer().name_groups_sync(
        [
            ClusterGroup(chat_ids=["1", "2", "3"], texts=["apples are red", "compile rust code", "tax forms due"]),
            ClusterGroup(chat_ids=["4", "5", "6"], texts=["flight delayed", "flight cancelled", "flight booking"]),
        ]
    )
    assert named[0].name.startswith("Assorted requests, such as ")
    assert named[1].name == "Flight"


# -- hierarchy ---------------------------------------------------------------------------------


def test_level_sizes_are_geometric_and_end_at_top():
    assert level_sizes(300, 10) == [55, 10]
    assert level_sizes(2250, 10) == [370, 61, 10]
    assert level_sizes(10, 3) == [3]
    assert level_sizes(8, 10) == [] and level_sizes(300, 10, levels=0) == []
    assert level_sizes(300, 10, levels=1) == [10]
    assert default_top_clusters(10) == 3 and default_top_clusters(10_000) == 10 and default_top_clusters(2) == 2


def _tree_from_blobs(n_topics=4, per_topic=3, seed=0, top=None):
    rng = np.random.default_rng(seed)
    clusters, vectors, texts = [], [], []
    for t in range(n_topics):
        for j in range(per_topic):
            ids = [f"t{t}c{j}m{m}" for m in range(5)]
            clusters.append(Cluster(id=f"b{t}{j}", name=f"topic{t} part{j}", description="", slug="s", chat_ids=ids))
            vectors.append(np.eye(8)[t] + rng.normal(0, 0.05, 8))
            texts.append([f"topic{t} word{t} item{j}"] * 3)
    builder = EmbeddingHierarchy(top_clusters=top or n_topics, seed=seed)
    tree = asyncio.run(builder.build(LevelInput(clusters=clusters, vectors=np.array(vectors), texts=texts)))
    return clusters, tree


def test_hierarchy_groups_by_topic_with_no_single_child_parents():
    base, tree = _tree_from_blobs()
    by_id = {c.id: c for c in tree}
    roots = [c for c in tree if c.parent_id is None]
    assert len(roots) == 4
    for root in roots:
        topics = {i.split("c")[0] for i in root.chat_ids}
        assert len(topics) == 1 and len(root.chat_ids) == 15
    children = {}
    for c in tree:
        if c.parent_id:
            assert c.parent_id in by_id
            children[c.parent_id] = children.get(c.parent_id, 0) + 1
    assert min(children.values()) >= 2
    assert sorted(i for r in roots for i in r.chat_ids) == sorted(i for b in base for i in b.chat_ids)


def test_hierarchy_moves_a_lone_child_up_instead_of_wrapping_it():
    base, tree = _tree_from_blobs(n_topics=3, per_topic=1, top=2)
    parents = [c for c in tree if c.id not in {b.id for b in base}]
    for p in parents:
        assert sum(1 for c in tree if c.parent_id == p.id) >= 2
    roots = [c for c in tree if c.parent_id is None]
    assert sorted(len(r.chat_ids) for r in roots) == [5, 10]


def test_cluster_levels_match_kura05():
    tree = [
        Cluster(id="r", name="r", description="", slug="s", chat_ids=["1", "2"]),
        Cluster(id="a", name="a", description="", slug="s", chat_ids=["1"], parent_id="r"),
        Cluster(id="b", name="b", description="", slug="s", chat_ids=["2"], parent_id="a"),
    ]
    assert cluster_levels(tree) == {"r": 0, "a": 1, "b": 2}


# -- project -----------------------------------------------------------------------------------


def test_umap_is_seeded_and_keeps_blobs_apart():
    x, truth = blobs([15, 15], dim=16)
    a = UMAPProjector(seed=3).fit_transform(x)
    b = UMAPProjector(seed=3).fit_transform(x)
    assert a.shape == (30, 2) and np.allclose(a, b)
    inside = np.linalg.norm(a[:15] - a[:15].mean(0), axis=1).mean()
    between = np.linalg.norm(a[:15].mean(0) - a[15:].mean(0))
    assert between > 2 * inside


def test_up_to_the_sample_size_the_map_is_umap_over_every_point_with_exact_neighbours():
    import warnings

    from scipy.spatial.distance import cdist
    from umap import UMAP

    x, _ = blobs([20, 20], dim=16)
    # The exact 15 nearest neighbours by cosine distance, each point first among its own.
    distances = cdist(x, x, "cosine")
    order = np.argsort(distances, axis=1, kind="stable")[:, :15]
    found, rows = UMAPProjector(seed=3).neighbours(x, x, 15)
    assert np.array_equal(rows, order)
    np.testing.assert_allclose(found, np.take_along_axis(distances, order, axis=1), atol=1e-6)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(n_jobs|knn_search_index).*")
        plain = UMAP(
            n_components=2, n_neighbors=15, min_dist=0.1, metric="cosine", random_state=3, precomputed_knn=(rows, found)
        ).fit_transform(x)
    assert np.array_equal(UMAPProjector(seed=3, sample_size=40).fit_transform(x), plain)
    assert np.array_equal(UMAPProjector(seed=3).fit_transform(x), plain)


def test_a_zero_vector_is_at_cosine_distance_one_from_every_other_as_in_umap():
    # Unit-length vectors at 90 and 60 degrees from the first, and a zero vector (no direction).
    x = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.866], [0.0, 0.0]], dtype=np.float32)
    distances, rows = UMAPProjector().neighbours(x[:1], x, 4)
    assert rows[0].tolist()[:2] == [0, 2]  # itself, then the vector at 60 degrees
    np.testing.assert_allclose(sorted(distances[0]), [0.0, 0.5, 1.0, 1.0], atol=1e-4)


def test_warming_up_the_projector_changes_no_map_and_no_global_random_state():
    x, _ = blobs([60, 60, 60], dim=16, spread=0.1)
    before = UMAPProjector(seed=3, sample_size=45).fit_transform(x)
    state = np.random.get_state()
    UMAPProjector(seed=3, sample_size=45).warm_up()
    assert all(np.array_equal(a, b) for a, b in zip(state, np.random.get_state()))
    assert np.array_equal(UMAPProjector(seed=3, sample_size=45).fit_transform(x), before)


def test_a_placed_point_sits_beside_its_nearest_sampled_point_pulled_towards_its_neighbours():
    # Sampled vectors on a line at 0, 1, 10 and 30, each shown at its own value on the map. With
    # 3 neighbours, a point at 0.2 (neighbours 0, 1, 10) sits just right of 0: a tenth of the way
    # to a weighted mean of 0, 1 and 10, which is below 10. A point at 29 (neighbours 30, 10, 1)
    # sits just left of 30, by less than a tenth of the way to 1.
    projector = UMAPProjector(n_neighbors=3, metric="euclidean")
    sample = np.array([[0.0], [1.0], [10.0], [30.0]])
    positions = np.hstack([sample, np.zeros((4, 1))])
    (x, y), (far, _) = projector.place(np.array([[0.2], [29.0]]), sample, positions)
    assert y == 0.0 and 0.0 < x < projector.pull * 10
    assert 30 - projector.pull * 29 < far < 30.0


def test_above_the_sample_size_points_land_beside_their_own_blob_and_the_map_is_seeded():
    x, truth = blobs([60, 60, 60], dim=16, spread=0.1)
    projector = UMAPProjector(seed=3, sample_size=45)
    points = projector.fit_transform(x)
    assert np.array_equal(points, UMAPProjector(seed=3, sample_size=45).fit_transform(x))
    sampled = projector.sample_rows(len(x))
    assert len(sampled) == 45 and set(truth[sampled]) == {0, 1, 2}
    assert not np.array_equal(sampled, UMAPProjector(seed=4, sample_size=45).sample_rows(len(x)))
    placed = np.setdiff1d(np.arange(len(x)), sampled)
    # Each placed point's nearest sampled point on the map is from its own blob.
    gaps = np.linalg.norm(points[placed][:, None] - points[sampled][None], axis=2)
    assert np.array_equal(truth[sampled][gaps.argmin(axis=1)], truth[placed])


def test_tiny_inputs_fall_back_to_pca():
    # Four points evenly spaced on a line: PCA (worked out by hand) puts them on its first axis at
    # -1.5, -0.5, 0.5, 1.5 (up to sign) and 0 on the second; UMAP would not keep the spacing.
    line = np.array([[0, 0, 0, 0], [1, 0, 0, 0], [2, 0, 0, 0], [3, 0, 0, 0]], dtype=np.float32)
    points = UMAPProjector().fit_transform(line)
    first = points[:, 0] * np.sign(points[-1, 0])
    np.testing.assert_allclose(first, [-1.5, -0.5, 0.5, 1.5], atol=1e-6)
    np.testing.assert_allclose(points[:, 1], 0.0, atol=1e-6)
    assert PCAProjector().fit_transform(np.ones((1, 4))).tolist() == [[0.0, 0.0]]


def test_placing_a_memory_mapped_matrix_in_chunks_gives_the_same_map(tmp_path, monkeypatch):
    import kura.stages.project as project

    x, _ = blobs([60, 60, 60], dim=16, spread=0.1)
    np.save(tmp_path / "v.npy", x.astype(np.float32))
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    whole = UMAPProjector(seed=3, sample_size=45).fit_transform(mapped)
    monkeypatch.setattr(project, "PLACE_CHUNK", 7)  # 135 placed rows: 20 chunks, the last short
    assert np.array_equal(UMAPProjector(seed=3, sample_size=45).fit_transform(mapped), whole)
