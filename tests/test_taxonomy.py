"""A finished run as a saved taxonomy: new conversations classified into it, on real CLINC150 data.

The taxonomy is built from CLINC150 training queries (hashing embedder: fast, and its vectors
keep topic structure); held-out test queries of the same intents should land in clusters of
their intent, and the real out-of-scope queries should be flagged "possibly new" far more often.
"""

from __future__ import annotations

import base64
import json
import math
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from kura_testdata import clinc_slice, shared

import kura
from kura.errors import ConfigError, InputError
from kura.llm import FakeLLM
from kura.llm.chooser import LLMClusterChooser
from kura.runner.classify import POSSIBLY_NEW, classify
from kura.server.rundata import RunData
from kura.stages.assign import CentroidScorer
from kura.taxonomy import Taxonomy, components_for
from kura.types import Conversation, Message

FAST = dict(embedder="hashing", projector="pca", clusters_per_group=10)
#: CLINC150 holds each intent's 100 training queries first, then 20 validation, then 30 test.
TEST_OFFSET = 120


def conversations(rows: list[dict]) -> list[Conversation]:
    return [
        Conversation(chat_id=r["id"], messages=[Message(role="user", content=r["messages"][0]["content"])])
        for r in rows
    ]


def out_of_scope() -> list[dict]:
    return [json.loads(line) for line in shared("clinc150_oos_trainval.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def train() -> list[dict]:
    return clinc_slice(30)


@pytest.fixture(scope="module")
def taxonomy_run(tmp_path_factory, train) -> Path:
    out = tmp_path_factory.mktemp("taxonomy") / "run"
    kura.run(conversations(train), out, **FAST)
    return out


@pytest.fixture(scope="module")
def taxonomy(taxonomy_run) -> Taxonomy:
    return Taxonomy.load(taxonomy_run)


def majority_intent(taxonomy: Taxonomy, train: list[dict]) -> dict[str, str]:
    """Each base cluster's most common true intent among its training members."""
    label = {r["id"]: r["label"] for r in train}
    return {c.id: Counter(label[i] for i in c.chat_ids).most_common(1)[0][0] for c in taxonomy.base}


def test_held_out_queries_land_in_clusters_of_their_intent(taxonomy, train):
    held_out = clinc_slice(10, offset=TEST_OFFSET)
    assignments = taxonomy.assign(conversations(held_out))
    assert [a.chat_id for a in assignments] == [r["id"] for r in held_out]
    intent = majority_intent(taxonomy, train)
    truth = {r["id"]: r["label"] for r in held_out}
    accuracy = np.mean([intent[a.cluster_id] == truth[a.chat_id] for a in assignments])
    # 150 intents (chance 0.7%); the hashing embedder only sees shared words. MiniLM: see BENCHMARKS.md.
    assert accuracy > 0.4, accuracy
    roots = {c.id for c in taxonomy.tree.roots}
    for a in assignments[:50]:
        assert a.path[-1] == a.cluster_id and a.path[0] in roots
        assert a.path_names == [taxonomy.tree[i].name for i in a.path]
        assert a.candidates[0] == a.cluster_id and len(a.candidates) == 5


def test_out_of_scope_queries_are_flagged_far_more_often_than_in_scope_ones(taxonomy):
    in_scope = taxonomy.assign(conversations(clinc_slice(10, offset=TEST_OFFSET)))
    oos = taxonomy.assign(conversations(out_of_scope()))
    in_rate = np.mean([a.unassigned for a in in_scope])
    oos_rate = np.mean([a.unassigned for a in oos])
    assert oos_rate > 2 * in_rate, (oos_rate, in_rate)
    # Calibrated on held-out scores, new in-scope queries are flagged near alpha (0.05); the
    # first cut (members against centroids that include them) flagged a quarter of them.
    assert in_rate < 0.15, in_rate
    for a in in_scope + oos:
        assert a.unassigned == (a.confidence < 0.05)
        assert a.unassigned == (a.similarity < taxonomy.threshold)


def test_calibration_by_hand_on_two_small_clusters():
    def at(degrees):
        return [math.cos(math.radians(degrees)), math.sin(math.radians(degrees))]

    vectors = np.array([at(0), at(10), at(20), at(90), at(100)])
    scorer = CentroidScorer.fit(vectors, np.array([0, 0, 0, 1, 1]), alpha=0.2)
    # Held out: 0 and 20 degrees see their cluster's centroid without them at 15 degrees away,
    # 10 sees it at 0, 90 and 100 see the other member 10 degrees away.
    expected = sorted([math.cos(math.radians(d)) for d in (15, 0, 15, 10, 10)])
    np.testing.assert_allclose(scorer.reference, expected, rtol=1e-6)
    assert scorer.threshold == pytest.approx(math.cos(math.radians(15)), rel=1e-6)
    scores = scorer.score(np.array([at(5), at(50)]), top_k=2)
    assert scores.best.tolist() == [[0, 1], [0, 1]]
    assert scores.confidence[0] == pytest.approx(4 / 5)  # cos 5 beats all held-out scores but 0 degrees
    assert scores.similarity[1, 0] == pytest.approx(math.cos(math.radians(40)), rel=1e-5)
    assert scores.unassigned.tolist() == [False, True]


def test_a_stricter_alpha_flags_fewer(taxonomy_run):
    loose, strict = Taxonomy.load(taxonomy_run, alpha=0.2), Taxonomy.load(taxonomy_run, alpha=0.01)
    assert strict.threshold < loose.threshold
    oos = conversations(out_of_scope())
    assert sum(a.unassigned for a in strict.assign(oos)) < sum(a.unassigned for a in loose.assign(oos))


def kura_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "kura.cli", *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def classified(tmp_path_factory, taxonomy_run) -> tuple[subprocess.CompletedProcess, Path]:
    folder = tmp_path_factory.mktemp("batch")
    batch = folder / "batch.jsonl"
    rows = clinc_slice(2, offset=TEST_OFFSET) + out_of_scope()[:100]
    batch.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = kura_cli("classify", taxonomy_run, batch, "--out", folder / "out", "--quiet")
    assert done.returncode == 0, done.stderr
    return done, folder / "out"


def test_classify_writes_a_run_the_explorer_opens(classified, taxonomy, taxonomy_run):
    done, out = classified
    run = RunData.load("batch", out)
    assert run.size == 400
    source = {c.id: c for c in taxonomy.tree.clusters}
    overview = run.overview()
    assert set(overview["clusters"]["id"]) <= set(source)  # the taxonomy's own clusters, ids and names unchanged
    assert all(source[i].name == n for i, n in zip(overview["clusters"]["id"], overview["clusters"]["name"]))
    meta = json.loads((out / "run.json").read_text())
    counts = meta["counts"]
    assert counts["assigned"] + counts["unassigned"] == 400 and counts["unassigned"] > 0
    assert meta["classification"]["taxonomy"] == str(taxonomy_run.resolve())
    assert counts["threshold"] == pytest.approx(taxonomy.threshold, abs=1e-4)
    roots = [i for i, p in enumerate(overview["clusters"]["parent"]) if p == -1]
    assert sum(overview["clusters"]["count"][i] for i in roots) == counts["assigned"]  # counts are this batch's
    # The summary table: every top cluster's count and the unassigned row, from the same numbers.
    assert "unassigned (possibly new)" in done.stdout and f"Possibly new: {counts['unassigned']:,}" in done.stdout


def test_possibly_new_conversations_have_no_cluster_in_the_tables(classified):
    _, out = classified
    table = pq.read_table(out / "conversations.parquet").to_pydict()
    assignments = {
        a["chat_id"]: a for a in (json.loads(line) for line in (out / "assignments.jsonl").read_text().splitlines())
    }
    for chat_id, cluster_id, path, metadata in zip(
        table["chat_id"], table["cluster_id"], table["cluster_path"], table["metadata"]
    ):
        a, facts = assignments[chat_id], json.loads(metadata)
        if a["unassigned"]:
            assert cluster_id is None and path == [] and facts["assignment"] == POSSIBLY_NEW
            assert facts["nearest_cluster"] == a["cluster_name"]
        else:
            assert cluster_id == a["cluster_id"] and path == a["path"] and facts["assignment"] == "assigned"
    assert all(math.isfinite(x) and math.isfinite(y) for x, y in zip(table["x"], table["y"]))
    # The explorer's columns: a possibly new conversation has the "no cluster" code.
    run = RunData.load("batch", out)
    ((kind, text),) = json.loads(run.columns_json())["cluster"].items()
    codes = np.frombuffer(base64.b64decode(text), dtype={"u8": "<u1", "u16": "<u2", "u32": "<u4"}[kind])
    no_cluster = len(run.clusters["id"])
    assert [c == no_cluster for c in codes] == [assignments[i]["unassigned"] for i in run.chat_ids]
    assignment_field = next(f for f in run.fields if f.key == "assignment")
    assert sorted(assignment_field.schema()["values"]) == ["assigned", POSSIBLY_NEW]


def test_tree_and_sql_work_on_the_classified_run(classified):
    _, out = classified
    tree = kura_cli("tree", out, "--style", "json")
    assert tree.returncode == 0, tree.stderr
    counts = json.loads((out / "run.json").read_text())["counts"]
    assert sum(node["count"] for node in json.loads(tree.stdout)) == counts["assigned"]
    sql = kura_cli(
        "sql", out, "select count(*) from conversations where cluster_id is null and metadata like '%possibly new%'"
    )
    assert sql.returncode == 0 and f"{counts['unassigned']}" in sql.stdout


def test_a_bad_run_dir_or_empty_input_is_one_line(tmp_path, taxonomy_run):
    batch = tmp_path / "batch.jsonl"
    batch.write_text(json.dumps(clinc_slice(1)[0]) + "\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    for args, says in [
        (("classify", tmp_path / "nothing", batch, "--out", tmp_path / "o1"), "is not a Kura run directory"),
        (("classify", taxonomy_run, empty, "--out", tmp_path / "o2"), "empty.jsonl"),
        (("classify", taxonomy_run, batch, "--out", taxonomy_run), "the taxonomy run itself"),
    ]:
        done = kura_cli(*args, "--quiet")
        assert done.returncode == 1
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], done.stderr


def test_the_runs_embedder_is_rebuilt_or_named(tmp_path, taxonomy_run):
    summariser, embedder = components_for(taxonomy_run)
    assert (summariser.name, embedder.name) == ("extractive:v2:40", "hashing:256")
    copy = tmp_path / "run"
    copy.mkdir()
    meta = json.loads((taxonomy_run / "run.json").read_text())
    meta["settings"]["embedder"] = "openai-embeddings:text-embedding-3-small:native@https://api.openai.com/v1"
    (copy / "run.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="--embedder"):
        components_for(copy)
    assert components_for(copy, embedder="hashing")[1].name == "hashing:256"
    with pytest.raises(InputError, match="not finished"):
        Taxonomy.load(copy)


def test_another_embedder_of_other_dimensions_is_refused(taxonomy):
    with pytest.raises(ConfigError, match="dimensional"):
        taxonomy.assign(conversations(clinc_slice(1)[:3]), embedder=kura.HashingEmbedder(dim=64))


def choose_last(messages, schema):
    """A model that always takes the last candidate it is offered (read from the schema's bound)."""
    return {"choice": schema["properties"]["choice"]["maximum"], "none_fit": False}


def test_llm_mode_picks_among_the_candidates(taxonomy):
    batch = conversations(clinc_slice(1, offset=TEST_OFFSET)[:20])
    by_embedding = taxonomy.assign(batch)
    llm = FakeLLM(responder=choose_last)
    by_model = taxonomy.assign(batch, chooser=LLMClusterChooser(llm), top_k=3)
    assert len(llm.calls) == 20
    for e, m in zip(by_embedding, by_model):
        assert m.decided_by == "llm" and not m.unassigned
        assert m.cluster_id == m.candidates[-1] == e.candidates[2]
    # The prompt shows each candidate's name and a typical member request.
    prompt = llm.calls[0][-1]["content"]
    first = taxonomy.base[[c.id for c in taxonomy.base].index(by_model[0].candidates[0])]
    assert first.name in prompt and taxonomy.typical[taxonomy.base.index(first)][0][:40] in prompt
    none_fit = taxonomy.assign(
        batch[:2], chooser=LLMClusterChooser(FakeLLM(script=[{"choice": 1, "none_fit": True}] * 2))
    )
    assert all(a.unassigned and a.decided_by == "llm" for a in none_fit)


def test_a_failing_model_is_recorded_and_the_embedding_choice_stands(tmp_path, taxonomy_run, taxonomy):
    rows = clinc_slice(1, offset=TEST_OFFSET)[:10]
    batch = tmp_path / "batch.jsonl"
    batch.write_text("".join(json.dumps(r) + "\n" for r in rows))
    llm = FakeLLM("invalid", validation_retries=1)
    result = classify(taxonomy_run, [batch], tmp_path / "out", llm=llm)
    assert len(llm.calls) == 20  # each request asked again once with the error shown, then given up
    expected = {a.chat_id: a.cluster_id for a in taxonomy.assign(conversations(rows))}
    assert {a.chat_id: a.cluster_id for a in result.assignments} == expected
    assert all(a.decided_by == "embedding (llm failed)" for a in result.assignments)
    failures = [json.loads(line) for line in (tmp_path / "out" / "errors.jsonl").read_text().splitlines()]
    assert sorted(f["id"] for f in failures) == sorted(expected) and {f["stage"] for f in failures} == {"classify"}
    assert not json.loads((tmp_path / "out" / "run.json").read_text())["stages"]["classify"]["complete"]


def test_the_classification_fingerprint_follows_the_taxonomy_and_its_settings(tmp_path, taxonomy_run, taxonomy):
    from kura.runner.classify import TaxonomyClassifier
    from kura.runner.params import fingerprint

    base = fingerprint(TaxonomyClassifier(taxonomy))
    assert fingerprint(TaxonomyClassifier(Taxonomy.load(taxonomy_run))) == base  # same run, same settings
    assert fingerprint(TaxonomyClassifier(taxonomy, top_k=3)) != base
    assert fingerprint(TaxonomyClassifier(Taxonomy.load(taxonomy_run, alpha=0.01))) != base
    assert fingerprint(TaxonomyClassifier(taxonomy, chooser=LLMClusterChooser(FakeLLM()))) != base
    other = tmp_path / "other"
    kura.run(conversations(clinc_slice(3)), other, **FAST)
    assert fingerprint(TaxonomyClassifier(Taxonomy.load(other))) != base  # another run: another taxonomy


def test_a_run_summarised_by_a_language_model_is_rebuilt_from_its_recorded_config(tmp_path: Path) -> None:
    from kura.llm import LLMSummariser
    from kura.taxonomy import components_for

    out = tmp_path / "llm-run"
    kura.run(
        Path(__file__).resolve().parents[1] / "data" / "oasst_en100.jsonl",
        out,
        llm="fake/echo",
        embedder="hashing",
        projector="pca",
    )
    summariser, embedder = components_for(out)
    assert isinstance(summariser, LLMSummariser) and summariser.llm.name == "fake/echo"
    recorded = json.loads((out / "run.json").read_text())["settings"]
    assert (summariser.name, embedder.name) == (recorded["summariser"], recorded["embedder"])
