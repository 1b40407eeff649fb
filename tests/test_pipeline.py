"""The whole pipeline on real conversations: outputs, resume, settings, determinism, kills."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from kura_testdata import DEMO_DATA, oasst_conversations
from slow_summariser import LoggingSummariser

import kura
from kura.types import Cluster, ConversationSummary, ProjectedCluster

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """One run with the real defaults: MiniLM ONNX embeddings, k-means, UMAP."""
    out = tmp_path_factory.mktemp("real") / "run"
    return kura.run(oasst_conversations(), out), out


def read_tree(out):
    return [Cluster.model_validate_json(line) for line in (out / "meta_clusters.jsonl").read_text().splitlines()]


def test_run_writes_the_documented_layout(real_run):
    result, out = real_run
    for name in [
        "run.json",
        "conversations.jsonl",
        "summaries.jsonl",
        "clusters.jsonl",
        "meta_clusters.jsonl",
        "dimensionality.jsonl",
        "conversations.parquet",
        "clusters.parquet",
        "errors.jsonl",
        "cache.sqlite",
        "points.npy",
    ]:
        assert (out / name).exists(), name
    meta = json.loads((out / "run.json").read_text())
    assert meta["mode"] == "extractive (no language model)" == result.mode
    assert meta["counts"]["summarised"] == 100 and meta["counts"]["base_clusters"] == 10
    assert meta["settings"]["embedder"].startswith("minilm-l6-v2-int8")
    # Every declared stage is recorded with the files it wrote, their sizes and digests.
    assert list(meta["stages"]) == ["summarise", "embed", "clusters", "hierarchy", "map", "export"]
    assert meta["stages"]["embed"]["files"]["vectors.npy"]["size"] == (out / "vectors.npy").stat().st_size
    assert meta["stages"]["summarise"]["computed"] == 100 and meta["version"] == 2
    summaries = [
        ConversationSummary.model_validate_json(line) for line in (out / "summaries.jsonl").read_text().splitlines()
    ]
    assert len({s.chat_id for s in summaries}) == 100
    projected = [
        ProjectedCluster.model_validate_json(line) for line in (out / "dimensionality.jsonl").read_text().splitlines()
    ]
    assert len(projected) == len(read_tree(out)) == meta["counts"]["clusters"]


def test_every_conversation_sits_under_exactly_one_root(real_run):
    result, out = real_run
    tree = read_tree(out)
    roots = [c for c in tree if c.parent_id is None]
    assert sorted(i for r in roots for i in r.chat_ids) == sorted(s.chat_id for s in result.summaries)
    ids = {c.id for c in tree}
    for c in tree:
        assert c.parent_id is None or c.parent_id in ids
        kids = [k for k in tree if k.parent_id == c.id]
        assert len(kids) != 1, f"{c.name} has a single child"
        if kids:
            assert sorted(i for k in kids for i in k.chat_ids) == sorted(c.chat_ids)


def test_clusters_sit_among_their_members_on_the_map(real_run):
    result, out = real_run
    points = np.load(out / "points.npy")
    index = {s.chat_id: i for i, s in enumerate(result.summaries)}
    for c in result.clusters:
        mean = points[[index[i] for i in c.chat_ids]].mean(axis=0)
        assert np.allclose([c.x_coord, c.y_coord], mean, atol=1e-4)


def test_sql_over_a_run(real_run):
    from kura.store.export import sql

    _, out = real_run
    columns, rows = sql(out, "select count(*), count(distinct top_cluster_id) from conversations")
    assert rows[0][0] == 100 and rows[0][1] >= 2
    columns, rows = sql(out, "select sum(count) from clusters where parent_id is null")
    assert rows[0][0] == 100
    # every name says who made it: here, with no model, the offline namer at every level
    columns, rows = sql(out, "select named_by, count(*) from clusters group by named_by")
    assert [r[0] for r in rows] == ["terms"]


def test_rerun_reuses_everything_and_calls_no_summariser(tmp_path):
    log = tmp_path / "calls.log"
    settings = dict(summariser=LoggingSummariser(str(log)), embedder="hashing", projector="pca")
    kura.run(oasst_conversations(), tmp_path / "run", **settings)
    assert len(log.read_text().split()) == 100
    again = kura.run(oasst_conversations(), tmp_path / "run", **settings)
    assert len(log.read_text().split()) == 100  # no new calls
    assert again.reused == ["embed", "clusters", "hierarchy", "map", "export"]  # summarise always reads the input
    assert again.stages["summarise"].reused == 100 and again.stages["summarise"].computed == 0


def test_changing_a_setting_recomputes_only_what_depends_on_it(tmp_path):
    log = tmp_path / "calls.log"
    common = dict(summariser=LoggingSummariser(str(log)), embedder="hashing", projector="pca")
    first = kura.run(oasst_conversations(), tmp_path / "run", clusters_per_group=10, **common)
    second = kura.run(oasst_conversations(), tmp_path / "run", clusters_per_group=5, **common)
    assert len(log.read_text().split()) == 100  # summaries came from the cache
    assert second.reused == ["embed", "map"]  # clusters and hierarchy depend on k; vectors and the map do not
    assert len([c for c in second.clusters if not any(o.parent_id == c.id for o in second.clusters)]) == 20
    third = kura.run(oasst_conversations(), tmp_path / "run", clusters_per_group=5, top_clusters=2, **common)
    assert third.reused == ["embed", "clusters", "map"]
    assert len(third.roots) == 2 and len(first.roots) != 0


def test_same_seed_same_result_other_seed_other_map(tmp_path):
    a = kura.run(oasst_conversations(), tmp_path / "a", embedder="hashing", seed=1)
    b = kura.run(oasst_conversations(), tmp_path / "b", embedder="hashing", seed=1)
    c = kura.run(oasst_conversations(), tmp_path / "c", embedder="hashing", seed=2)
    assert (tmp_path / "a" / "meta_clusters.jsonl").read_text() == (tmp_path / "b" / "meta_clusters.jsonl").read_text()
    assert (tmp_path / "a" / "dimensionality.jsonl").read_text() == (
        tmp_path / "b" / "dimensionality.jsonl"
    ).read_text()
    assert not np.allclose(np.load(tmp_path / "a" / "points.npy"), np.load(tmp_path / "c" / "points.npy"))
    assert [x.id for x in a.clusters] == [x.id for x in b.clusters] and c.clusters


def test_a_killed_run_resumes_without_redoing_finished_items(tmp_path):
    out, log1, log2 = tmp_path / "run", tmp_path / "first.log", tmp_path / "second.log"
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); import kura; from slow_summariser import LoggingSummariser; "
        "kura.run(sys.argv[2], sys.argv[3], summariser=LoggingSummariser(sys.argv[4], delay=0.05), embedder='hashing', projector='pca')"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(TESTS), str(DEMO_DATA), str(out), str(log1)])
    cache = out / "cache.sqlite"
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:  # bounded: wait until some items are safely stored
            if cache.exists():
                try:
                    with sqlite3.connect(cache) as db:
                        if db.execute("select count(*) from items where ns='summary'").fetchone()[0] >= 20:
                            break
                except sqlite3.OperationalError:
                    pass
            assert proc.poll() is None, "the run finished before it could be killed"
            time.sleep(0.05)
        else:
            pytest.fail("no summaries were cached within 60 s")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    with sqlite3.connect(cache) as db:
        done = db.execute("select count(*) from items where ns='summary'").fetchone()[0]
    first_calls = log1.read_text().split()
    assert 20 <= done < 100 and len(first_calls) < 100
    assert not (out / "meta_clusters.jsonl").exists()  # killed mid-way: no half-written outputs
    assert not (out / "conversations.jsonl").exists()

    result = kura.run(DEMO_DATA, out, summariser=LoggingSummariser(str(log2)), embedder="hashing", projector="pca")
    second_calls = log2.read_text().split()
    assert len(second_calls) == 100 - done  # exactly the unfinished ones
    assert len(set(second_calls)) == len(second_calls)
    assert len(result.summaries) == 100 and len({s.chat_id for s in result.summaries}) == 100
    assert len((out / "conversations.jsonl").read_text().splitlines()) == 100


def test_failures_are_recorded_and_retried_next_run(tmp_path):
    from kura.types import Conversation, Message

    convs = oasst_conversations()[:20] + [
        Conversation(chat_id="no-user", messages=[Message(role="assistant", content="hello")])
    ]
    result = kura.run(convs, tmp_path / "run", embedder="hashing", projector="pca")
    assert [f["id"] for f in result.failures] == ["no-user"]
    assert json.loads((tmp_path / "run" / "errors.jsonl").read_text())["stage"] == "summarise"
    assert len(result.summaries) == 20


def test_empty_input_is_one_clear_error(tmp_path):
    with pytest.raises(kura.KuraError, match="no conversation could be summarised"):
        kura.run([], tmp_path / "run", embedder="hashing")


def test_a_repeated_id_among_objects_is_recorded_and_the_first_kept(tmp_path):
    from kura.types import Conversation, Message

    convs = [
        Conversation(chat_id=i, messages=[Message(role="user", content=f"question about topic {n}")])
        for n, i in enumerate("abacde")
    ]
    result = kura.run(convs, tmp_path / "run", embedder="hashing", projector="pca")
    assert [s.chat_id for s in result.summaries] == ["a", "b", "c", "d", "e"]
    assert result.summaries[0].summary == "question about topic 0"
    assert [f.model_dump() for f in result.failures] == [
        {"id": "a", "stage": "load", "error": "duplicate chat_id: kept the first"}
    ]
