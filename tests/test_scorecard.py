"""``kura eval``: a real run over labelled CLINC150 queries, scored level by level."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from kura_testdata import clinc_slice, shared

import kura
from kura.analysis.scorecard import label_text, read_labels, run_levels, score_level, scorecard
from kura.errors import InputError, KuraError
from kura.types import Conversation, Message


def kura_cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kura.cli", *map(str, args)], capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def labelled_run(tmp_path_factory):
    """15 intents x 20 queries (3 domains' worth), run with the real MiniLM embedder."""
    rows = clinc_slice(20)
    intents = sorted({r["label"] for r in rows})[:15]
    rows = [r for r in rows if r["label"] in intents]
    domain_of = {i: d for d, ints in json.loads(shared("clinc150_domains.json").read_text()).items() for i in ints}
    folder = tmp_path_factory.mktemp("eval")
    conversations = [Conversation(chat_id=r["id"], messages=[Message(**m) for m in r["messages"]]) for r in rows]
    kura.run(conversations, folder / "run", top_clusters=3, projector="pca")
    labels = folder / "labels.csv"
    labels.write_text("id,intent,domain\n" + "".join(f"{r['id']},{r['label']},{domain_of[r['label']]}\n" for r in rows))
    return folder / "run", labels, rows


def test_every_level_is_scored_against_every_label_column(labelled_run):
    run, labels, rows = labelled_run
    card = scorecard(run, labels)
    assert card.matched == card.run_conversations == len(rows) == 300
    assert set(card.scores) == {"intent", "domain"}
    levels = run_levels(run)
    intent = card.scores["intent"]
    assert [s.clusters for s in intent] == [len(level) for level in levels]
    assert intent[0].role == "top" and intent[-1].role == "base" and intent[-1].clusters == 30
    assert all(s.conversations == 300 and s.labels == 15 for s in intent)
    base = intent[-1]
    # Real clusters of real queries: far from chance, as tests/test_quality.py finds at scale.
    assert base.nmi > 0.8 and base.homogeneity > 0.85 and base.purity > 0.85
    assert base.name_score > 5 * base.chance
    # Finer levels are purer against the intents; the top is at least as complete.
    assert intent[-1].homogeneity >= intent[0].homogeneity
    assert intent[0].completeness >= intent[-1].completeness
    assert card.name_level("intent") is not None and card.name_level("intent").clusters >= 15


def test_names_equal_to_the_labels_score_one_and_shuffled_labels_score_near_chance(labelled_run, tmp_path):
    run, _, _ = labelled_run
    base = run_levels(run)[-1]
    # Each conversation labelled with its own base cluster's name: the names identify the labels.
    own = tmp_path / "own.jsonl"
    own.write_text("".join(json.dumps({"id": i, "label": c.name}) + "\n" for c in base for i in c.chat_ids))
    card = scorecard(run, own)
    exact = card.scores["label"][-1]
    distinct = len({c.name for c in base})
    assert exact.nmi == pytest.approx(1.0) if distinct == len(base) else exact.nmi > 0.9
    assert exact.purity == pytest.approx(1.0) and exact.name_score == pytest.approx(1.0)
    # The same labels dealt out at random: the names no longer say what is inside.
    ids = [i for c in base for i in c.chat_ids]
    names = [c.name for c in base for _ in c.chat_ids]
    random.Random(0).shuffle(names)
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_text("".join(json.dumps({"id": i, "label": n}) + "\n" for i, n in zip(ids, names)))
    noise = scorecard(run, shuffled).scores["label"][-1]
    assert noise.name_score < 0.2 and noise.nmi < exact.nmi - 0.3
    assert exact.names_right == pytest.approx(1.0) and noise.names_right < 0.3


def test_names_right_takes_the_clusters_impurity_out_of_the_name_score(labelled_run, tmp_path):
    run, _, _ = labelled_run
    base = run_levels(run)[-1]
    # Every fourth member of each cluster labelled with the next cluster's name: the clusters are
    # impure against these labels, but every name still picks its cluster's most common label.
    rows = [
        {"id": i, "label": base[(k + 1) % len(base)].name if j % 4 == 3 else c.name}
        for k, c in enumerate(base)
        for j, i in enumerate(c.chat_ids)
    ]
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    score = scorecard(run, mixed).scores["label"][-1]
    assert score.purity < 0.85 and score.name_score == pytest.approx(score.purity)
    assert score.names_right == pytest.approx(1.0)


def test_purity_and_the_metrics_on_a_hand_worked_case():
    scores = score_level(["a", "a", "b", "b"], [0, 0, 0, 1])
    assert scores["purity"] == pytest.approx(3 / 4)  # cluster 0 holds a, a, b; cluster 1 holds b
    assert scores["homogeneity"] < 1 and scores["completeness"] < 1
    perfect = score_level(["x", "x", "y"], [5, 5, 2])
    assert perfect["nmi"] == pytest.approx(1) and perfect["ari"] == pytest.approx(1) and perfect["purity"] == 1


def test_labels_read_from_jsonl_conversations_csv_and_gzip(tmp_path):
    # A conversations file with a label field works as it is: messages are not a label column.
    jsonl = tmp_path / "chats.jsonl"
    jsonl.write_text(
        json.dumps({"id": "a", "messages": [{"role": "user", "content": "hi"}], "label": "greet"}) + "\n\n"
    )
    assert read_labels(jsonl).columns == {"label": {"a": "greet"}}
    csv = tmp_path / "labels.csv"
    csv.write_text("chat_id,intent,domain\nx,pay_bill,banking\ny,,travel\n")
    labels = read_labels(csv)
    assert labels.id_column == "chat_id" and labels.columns["intent"] == {"x": "pay_bill"}  # empty: unlabelled
    assert read_labels(csv, columns=["domain"]).columns == {"domain": {"x": "banking", "y": "travel"}}
    assert read_labels(shared("clinc150.jsonl.gz")).rows == 22_500
    wide = tmp_path / "wide.csv"
    wide.write_text("id,label\na,x\nb,y,z\n")
    with pytest.raises(InputError, match="wide.csv line 3: more cells than the header"):
        read_labels(wide)
    assert label_text("credit_limit-change") == "credit limit change"


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"id": "a", "label": "x"}\n{"id": "b", "label": \n', "line 2: not JSON"),
        ('{"id": "a", "label": "x"}\n{"id": "a", "label": "y"}\n', "id 'a' appears twice"),
        ('{"text": "a", "label": "x"}\n', "no id or chat_id or conversation_id column"),
        ('{"id": "a", "label": ["x"]}\n', "no label column beside 'id'"),
        ("", "the labels file is empty"),
    ],
)
def test_a_bad_labels_file_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "labels.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_labels(path)


def test_cli_table_json_and_one_line_errors(labelled_run, tmp_path):
    run, labels, _ = labelled_run
    table = kura_cli("eval", run, labels)
    assert table.returncode == 0, table.stderr
    assert "300 of its 300 conversations are labelled" in table.stdout
    assert "against intent (15 labels" in table.stdout and "against domain" in table.stdout
    assert "name score" in table.stdout and "top" in table.stdout and "base" in table.stdout
    as_json = json.loads(kura_cli("eval", run, labels, "--json", "--column", "domain").stdout)
    assert list(as_json["scores"]) == ["domain"] and as_json["matched"] == 300
    assert {"nmi", "ami", "ari", "homogeneity", "completeness", "purity", "name_score"} <= set(
        as_json["scores"]["domain"][0]
    )

    other = tmp_path / "other.csv"
    other.write_text("id,label\nnope-1,a\nnope-2,b\n")
    for args, message in [
        ((tmp_path / "missing-run", labels), "is not a Kura run directory"),
        ((run, tmp_path / "missing.csv"), "no such labels file"),
        ((run, other), "none of its 2 ids is a conversation of"),
    ]:
        done = kura_cli("eval", *args)
        assert done.returncode == 1 and message in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_partly_matching_ids_are_counted(labelled_run, tmp_path):
    run, labels, rows = labelled_run
    partial = tmp_path / "partial.csv"
    lines = labels.read_text().splitlines()
    partial.write_text("\n".join(lines[:101] + ["stranger,pay_bill,banking"]) + "\n")
    card = scorecard(run, partial)
    assert (card.matched, card.labelled, card.run_conversations) == (100, 101, 300)
    assert all(s.conversations == 100 for s in card.scores["intent"])


def test_run_without_a_tree_is_refused(tmp_path: Path):
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(KuraError, match="no hierarchy yet"):
        run_levels(tmp_path)
