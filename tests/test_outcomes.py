"""Outcomes per cluster on real CLINC150 queries, with outcome tables made by a documented rule.

The rule (``planted_table``): every conversation gets a feedback rating 1-5, a revenue and a
``resolved`` flag drawn from a seeded RNG. Conversations of one intent, ``translate``, draw their
rating from a worse distribution (mean 2.1 instead of 3.9) and are resolved 20% of the time
instead of 85%; revenue has no planted effect. A "null" table draws every conversation from the
same distributions, so no cluster differs from the rest and every flag is a false one.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from kura_testdata import clinc_slice
from scipy import stats

from kura.analysis.outcomes import (
    OutcomeColumn,
    attach_outcomes,
    cluster_outcomes,
    cluster_stats,
    fisher_pvalues,
    wilson_interval,
)
from kura.errors import InputError

PLANTED = "translate"
RATINGS = np.arange(1, 6)
GOOD = np.array([0.03, 0.07, 0.2, 0.35, 0.35])  # mean 3.92
BAD = np.array([0.35, 0.35, 0.2, 0.07, 0.03])  # mean 2.08
GOOD_MEAN = float(RATINGS @ GOOD)
RESOLVED, RESOLVED_PLANTED = 0.85, 0.2


def kura(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kura.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def clinc(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """A real run (offline MiniLM embeddings) over 20 queries of each of 40 CLINC150 intents."""
    import kura as kura_api

    folder = tmp_path_factory.mktemp("outcomes")
    intents: list[str] = []
    rows = []
    for row in clinc_slice(20):
        if row["label"] not in intents and len(intents) < 40:
            intents.append(row["label"])
        if row["label"] in intents:
            rows.append(row)
    assert PLANTED in intents and len(rows) == 800
    source = folder / "clinc800.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    kura_api.run([source], folder / "run", projector="pca", clusters_per_group=20, progress=False)
    return folder / "run", rows


def planted_table(rows: list[dict], seed: int, *, planted: bool = True) -> dict[str, list]:
    """The module docstring's rule, as columns keyed by ``conversation_id``."""
    rng = np.random.default_rng(seed)
    bad = np.array([planted and r["label"] == PLANTED for r in rows])
    feedback = np.where(bad, rng.choice(RATINGS, len(rows), p=BAD), rng.choice(RATINGS, len(rows), p=GOOD))
    resolved = rng.random(len(rows)) < np.where(bad, RESOLVED_PLANTED, RESOLVED)
    revenue = np.round(rng.gamma(2.0, 60.0, len(rows)), 2)
    return {
        "conversation_id": [r["id"] for r in rows],
        "feedback": feedback.tolist(),
        "revenue": revenue.tolist(),
        "resolved": resolved.tolist(),
    }


def write_csv(path: Path, columns: dict[str, list]) -> Path:
    names = list(columns)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(names)
        for values in zip(*columns.values()):
            writer.writerow(["true" if v is True else "false" if v is False else v for v in values])
    return path


def planted_clusters(report, rows: list[dict]) -> tuple[set[str], set[str]]:
    """Base clusters of 10 or more that are mostly the planted intent (smaller ones may lack the
    power to show it, which is honest), and clusters with none of it under them."""
    label = {r["id"]: r["label"] for r in rows}
    mostly, clean = set(), set()
    for c in report.tree.clusters:
        share = Counter(label[i] for i in c.chat_ids)[PLANTED] / len(c.chat_ids)
        if share == 0:
            clean.add(c.id)
        elif share > 0.5 and len(c.chat_ids) >= 10 and c in report.tree.leaves():
            mostly.add(c.id)
    return mostly, clean


# -- the planted effect ---------------------------------------------------------------------------------------
def test_the_planted_cluster_is_flagged_and_clusters_without_it_are_not(clinc, tmp_path):
    run, rows = clinc
    result = attach_outcomes(run, write_csv(tmp_path / "feedback.csv", planted_table(rows, seed=1)))
    assert result.matched == 800 and result.columns == ["feedback", "revenue", "resolved"]
    report = cluster_outcomes(run)
    mostly, clean = planted_clusters(report, rows)
    assert mostly, "the planted intent should make up most of some base cluster"
    feedback, resolved, revenue = (report.get(k) for k in ("feedback", "resolved", "revenue"))
    assert (feedback.kind, resolved.kind, revenue.kind) == ("mean", "rate", "mean")
    for cid in mostly:
        s = feedback.clusters[cid]
        assert s.flagged and s.value < s.rest_value and s.lift < -0.25 and s.q < 0.05
        assert resolved.clusters[cid].value < resolved.clusters[cid].rest_value
    assert any(resolved.clusters[cid].flagged for cid in mostly)
    assert not [cid for cid in clean if feedback.clusters[cid].flagged or resolved.clusters[cid].flagged]
    assert not revenue.flagged  # nothing was planted there
    # Tested: every cluster at every level (a cluster of the whole run has no "rest").
    assert feedback.tested == sum(1 for c in report.tree.clusters if len(c.chat_ids) < 800)


def test_over_many_tables_the_plant_is_found_and_false_flags_stay_rare(clinc):
    """Ten seeded planted tables: the planted clusters are flagged in (nearly) every one, and
    of the clean clusters fewer than 1% are ever flagged."""
    run, rows = clinc
    report = cluster_outcomes(run)
    mostly, clean = planted_clusters(report, rows)
    members = _members(report, rows)
    found, false_flags, trials = 0, 0, 0
    for seed in range(10):
        table = planted_table(rows, seed=100 + seed)
        for key in ("feedback", "resolved"):
            stats_ = cluster_stats(_column(key, table), members)
            found += all(stats_.clusters[cid].flagged for cid in mostly)
            false_flags += sum(stats_.clusters[cid].flagged for cid in clean)
            trials += len(clean)
    assert found >= 18, f"the planted clusters were flagged in only {found} of 20 tables"
    assert false_flags / trials < 0.01, f"{false_flags} false flags in {trials} clean cluster tests"


def test_null_tables_are_flagged_about_as_often_as_alpha_allows(clinc):
    """No cluster differs in a null table. Uncorrected, about 5% of clusters would look
    significant (so the p-values are calibrated); after the correction a whole table has any
    flag at all in at most about alpha = 5% of the tables."""
    run, rows = clinc
    report = cluster_outcomes(run)
    members = _members(report, rows)
    tables_with_flags, raw = 0, {"feedback": [], "resolved": []}
    for seed in range(40):
        table = planted_table(rows, seed=1000 + seed, planted=False)
        for key in raw:
            s = cluster_stats(_column(key, table), members)
            raw[key] += [c.p for c in s.clusters.values() if c.p is not None]
            tables_with_flags += bool(s.flagged)
    assert tables_with_flags <= 8, f"{tables_with_flags} of 80 null tables had a flagged cluster"
    student = np.mean(np.array(raw["feedback"]) < 0.05)
    fisher = np.mean(np.array(raw["resolved"]) < 0.05)
    assert 0.03 < student < 0.07, student
    assert 0.01 < fisher < 0.07, fisher  # Fisher's exact test is conservative on small clusters


def test_intervals_cover_the_true_value_about_95_percent_of_the_time(clinc):
    run, rows = clinc
    report = cluster_outcomes(run)
    members = _members(report, rows)
    covered: dict[str, list[bool]] = {"feedback": [], "resolved": []}
    truth = {"feedback": GOOD_MEAN, "resolved": RESOLVED}
    for seed in range(40):
        table = planted_table(rows, seed=2000 + seed, planted=False)
        for key in covered:
            for c in cluster_stats(_column(key, table), members).clusters.values():
                if c.n >= 5 and c.low is not None and c.high is not None:
                    covered[key].append(c.low <= truth[key] <= c.high)
    assert 0.92 < np.mean(covered["feedback"]) < 0.975, np.mean(covered["feedback"])
    assert 0.92 < np.mean(covered["resolved"]) < 0.99, np.mean(covered["resolved"])


def _members(report, rows: list[dict]) -> dict[str, np.ndarray]:
    row_of = {r["id"]: i for i, r in enumerate(rows)}
    return {c.id: np.array([row_of[i] for i in c.chat_ids]) for c in report.tree.clusters}


def _column(key: str, table: dict[str, list]) -> OutcomeColumn:
    kind = "rate" if key == "resolved" else "mean"
    return OutcomeColumn(key, key, kind, "outcome", np.array(table[key], dtype=float))


# -- the statistics against scipy's own functions ----------------------------------------------------------------
def test_wilson_intervals_and_fisher_pvalues_match_scipy():
    rng = np.random.default_rng(7)
    n = rng.integers(1, 60, 200)
    k = np.array([rng.integers(0, m + 1) for m in n])
    low, high = wilson_interval(k, n)
    total_n, total_k = 900, 400
    p = fisher_pvalues(k, n, total_k, total_n)
    for i in range(len(n)):
        ci = stats.binomtest(int(k[i]), int(n[i])).proportion_ci(method="wilson")
        assert low[i] == pytest.approx(ci.low, abs=1e-9) and high[i] == pytest.approx(ci.high, abs=1e-9)
        table = [[k[i], n[i] - k[i]], [total_k - k[i], total_n - n[i] - (total_k - k[i])]]
        assert p[i] == pytest.approx(stats.fisher_exact(table).pvalue, rel=1e-9, abs=1e-12)


def test_means_intervals_and_t_tests_match_scipy_on_the_raw_values(clinc, tmp_path):
    run, rows = clinc
    attach_outcomes(run, write_csv(tmp_path / "feedback.csv", planted_table(rows, seed=3)))
    report = cluster_outcomes(run)
    values = {r["id"]: float(v) for r, v in zip(rows, planted_table(rows, seed=3)["revenue"])}
    revenue = report.get("revenue")
    for c in report.tree.clusters[:25]:
        inside = np.array([values[i] for i in c.chat_ids])
        rest = np.array([v for i, v in values.items() if i not in set(c.chat_ids)])
        s = revenue.clusters[c.id]
        assert s.n == len(inside) and s.value == pytest.approx(inside.mean())
        low, high = stats.t.interval(0.95, len(inside) - 1, inside.mean(), stats.sem(inside))
        assert (s.low, s.high) == (pytest.approx(low), pytest.approx(high))
        assert s.p == pytest.approx(stats.ttest_ind(inside, rest).pvalue, rel=1e-6)
        assert s.lift == pytest.approx((inside.mean() - rest.mean()) / rest.mean())


# -- the language-model facets, with no outcome file --------------------------------------------------------------
def test_language_model_facets_are_tested_without_an_outcome_file(clinc, tmp_path):
    """Facets as a language model would fill them (set here by the same rule: the planted
    intent is frustrated and has assistant errors), in a copy of the run without outcomes."""
    from kura.store import RunStore
    from kura.store.export import write_parquet_exports
    from kura.types import ConversationSummary, ProjectedCluster

    run = tmp_path / "facets"
    shutil.copytree(clinc[0], run, ignore=shutil.ignore_patterns("outcomes.parquet", "run.lock"))
    label = {r["id"]: r["label"] for r in clinc[1]}
    rng = np.random.default_rng(5)
    store = RunStore(run)
    summaries = store.read_models("summaries.jsonl", ConversationSummary)
    for s in summaries:
        bad = label[s.chat_id] == PLANTED
        s.user_frustration = int(rng.choice(RATINGS, p=BAD[::-1] if bad else GOOD[::-1]))
        s.assistant_errors = ["wrong language"] if rng.random() < (0.6 if bad else 0.05) else []
        s.concerning_score = 1
    clusters = store.read_models("dimensionality.jsonl", ProjectedCluster)
    write_parquet_exports(store, summaries, clusters, np.load(store.file("points.npy")))
    report = cluster_outcomes(run)
    assert [o.key for o in report.outcomes] == ["user_frustration", "assistant_errors", "concerning_score"]
    mostly, clean = planted_clusters(report, clinc[1])
    frustration, errors = report.get("user_frustration"), report.get("assistant_errors")
    assert errors.kind == "rate" and errors.label == "Has assistant errors"
    for cid in mostly:
        assert frustration.clusters[cid].flagged and frustration.clusters[cid].lift > 0
        assert errors.clusters[cid].flagged and errors.clusters[cid].value > 0.3
    assert not any(frustration.clusters[c].flagged or errors.clusters[c].flagged for c in clean)
    assert not report.get("concerning_score").flagged  # the same score everywhere: nothing to test
    assert report.get("concerning_score").tested == 0


# -- the table: typed, joined, merged ---------------------------------------------------------------------------
def test_the_table_is_stored_typed_one_row_per_conversation_and_later_tables_add_columns(clinc, tmp_path):
    run, rows = clinc
    table = planted_table(rows, seed=4)
    # Rows for only half the run, and three ids the run does not know: counted, not fatal.
    half = {k: v[::2] for k, v in table.items()}
    half["conversation_id"][:3] = ["nope-1", "nope-2", "nope-3"]
    result = attach_outcomes(run, write_csv(tmp_path / "half.csv", half))
    assert result.matched == 397 and result.unknown == ["nope-1", "nope-2", "nope-3"]
    stored = pq.read_table(run / "outcomes.parquet")
    assert (
        stored.column("chat_id").to_pylist()
        == pq.read_table(run / "conversations.parquet").column("chat_id").to_pylist()
    )
    assert [str(stored.schema.field(c).type) for c in ("feedback", "revenue", "resolved")] == [
        "int64",
        "double",
        "bool",
    ]
    assert stored.column("feedback").null_count == 800 - 397
    # A second table (here: Parquet, keyed by chat_id) adds its columns and keeps the others.
    import pyarrow as pa

    cost = pa.table({"chat_id": [r["id"] for r in rows], "cost": [0.001 * i for i in range(800)]})
    pq.write_table(cost, tmp_path / "cost.parquet")
    again = attach_outcomes(run, tmp_path / "cost.parquet")
    assert again.columns == ["cost"] and set(again.kept) == {"feedback", "revenue", "resolved"}
    assert set(pq.read_table(run / "outcomes.parquet").column_names) == {
        "chat_id",
        "cost",
        "feedback",
        "revenue",
        "resolved",
    }
    # Metadata fields of the conversations attach the same way; text ones are refused.
    meta = attach_outcomes(run, metadata=["conversation_turns"])
    assert meta.columns == ["conversation_turns"] and cluster_outcomes(run).get("conversation_turns").n == 800
    with pytest.raises(InputError, match="no numeric or true/false column.*label: text"):
        attach_outcomes(run, metadata=["label"])


@pytest.mark.parametrize(
    "content, key, message",
    [
        (
            "user,feedback\nclinc150-train-0,4\n",
            None,
            r"feedback\.csv: has no conversation id column \(looked for chat_id, conversation_id, id; its columns: user, feedback\): name it with --key COLUMN",
        ),
        (
            "id,feedback\nclinc150-train-0,4\nclinc150-train-1,4 stars\nclinc150-train-2,5\n",
            None,
            r"feedback\.csv line 3: feedback='4 stars' is not a number",
        ),
        (
            "id,feedback\nclinc150-train-0,4\nclinc150-train-1,3\nclinc150-train-0,5\n",
            None,
            r"feedback\.csv line 4: conversation id 'clinc150-train-0' appears twice \(also feedback\.csv line 2\)",
        ),
        ("id,feedback\nx-1,4\nx-2,3\n", None, r"none of its 2 ids is a conversation of this run"),
        ("id,feedback\nclinc150-train-0,4\n", "conv", r"has no column 'conv' \(given by --key\)"),
        (
            "id,comment\nclinc150-train-0,great\nclinc150-train-1,bad\n",
            None,
            r"no numeric or true/false column to attach \(comment: text",
        ),
        ("id,feedback\nclinc150-train-0,4,9\n", None, r"cannot be read as a table"),
    ],
)
def test_bad_tables_fail_with_one_line_naming_the_file_the_row_and_the_fix(clinc, tmp_path, content, key, message):
    path = tmp_path / "feedback.csv"
    path.write_text(content, encoding="utf-8")
    done = kura("outcomes", clinc[0], path, *(["--key", key] if key else []))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert re.search(message, lines[0]), lines[0]


# -- the command line ---------------------------------------------------------------------------------------------
def test_kura_outcomes_prints_the_table_sorted_and_kura_tree_shows_an_outcome_column(clinc, tmp_path):
    run, rows = clinc
    feedback = write_csv(tmp_path / "feedback.csv", planted_table(rows, seed=1))
    done = kura("outcomes", run, feedback, "--sort", "feedback", "--ascending")
    assert done.returncode == 0, done.stderr
    assert "for 800 of the run's 800 conversations" in done.stderr
    report = cluster_outcomes(run)
    mostly, _ = planted_clusters(report, rows)
    lines = [line for line in done.stdout.splitlines() if line.startswith("│")]
    lowest = min(report.get("feedback").clusters.values(), key=lambda c: c.value)
    assert lowest.cluster_id in mostly
    first = [cell.strip() for cell in lines[0].split("│")]
    assert first[1] == report.tree[lowest.cluster_id].name and "▼" in first[3]  # flagged low on feedback
    assert "Benjamini-Hochberg" in done.stdout
    tree = kura("tree", run, "--outcome", "feedback")
    assert tree.returncode == 0, tree.stderr
    for cid in mostly:
        name = re.escape(report.tree[cid].name)
        assert re.search(rf"── {name}  \d+ \([\d.]+%\)  feedback [\d.]+ -\d+% ▼$", tree.stdout, re.M), tree.stdout
    unknown = kura("tree", run, "--outcome", "nps")
    assert unknown.returncode == 1 and "no outcome 'nps' in this run: choose one of" in unknown.stderr


# -- the slides' query ------------------------------------------------------------------------------------------
SLIDES_QUERY = """
select c.name, count(*) n, avg(f.feedback) avg_feedback, sum(f.revenue) revenue
from conversations v
join read_csv('feedback.csv') f on f.conversation_id = v.chat_id
join clusters c on c.id = v.top_cluster_id
group by c.name
order by revenue desc
"""


def test_the_slides_query_joins_a_feedback_csv_and_ranks_clusters_by_revenue(clinc, tmp_path, monkeypatch):
    """The query exactly as on the slides, over the user's own CSV (read by DuckDB itself), checked
    against the same numbers computed independently with pandas."""
    import pandas as pd

    from kura.store.export import sql

    run, rows = clinc
    write_csv(tmp_path / "feedback.csv", planted_table(rows, seed=8))
    monkeypatch.chdir(tmp_path)
    columns, result = sql(run, SLIDES_QUERY)
    assert columns == ["name", "n", "avg_feedback", "revenue"]

    feedback = pd.read_csv(tmp_path / "feedback.csv")
    conversations = pq.read_table(run / "conversations.parquet").to_pandas()
    clusters = pq.read_table(run / "clusters.parquet").to_pandas()
    joined = conversations.merge(feedback, left_on="chat_id", right_on="conversation_id").merge(
        clusters, left_on="top_cluster_id", right_on="id"
    )
    expected = joined.groupby("name").agg(
        n=("chat_id", "size"), avg_feedback=("feedback", "mean"), revenue=("revenue", "sum")
    )
    expected = expected.sort_values("revenue", ascending=False)
    assert [r[0] for r in result] == list(expected.index)
    assert [r[1] for r in result] == expected["n"].tolist() and sum(r[1] for r in result) == 800
    assert np.allclose([r[2] for r in result], expected["avg_feedback"])
    assert np.allclose([r[3] for r in result], expected["revenue"])
    assert [r[3] for r in result] == sorted((r[3] for r in result), reverse=True)
    # The same through the command line, from the folder that holds feedback.csv.
    done = kura("sql", run, SLIDES_QUERY, cwd=tmp_path)
    assert done.returncode == 0 and result[0][0] in done.stdout
