"""Trends over time (kura/analysis/trends.py, `kura trends`) on real runs with timestamps.

CLINC150 has no times, so runs here get them from `kura_testdata.timed_clinc`'s documented
schedule: uniform over 12 weeks (the null), with one intent optionally placed increasingly late.
The Claude and ChatGPT exports bring their own times, which must come through unchanged.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from kura_testdata import DEMO_DATA, SCHEDULE_START, shared, timed_clinc

import kura
from kura.analysis.trends import analyse, benjamini_hochberg, trend_test, trends
from kura.errors import ConfigError

ROOT = Path(__file__).parent
PLANTED = "translate"
FAST = dict(embedder="hashing", projector="pca")


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "kura.cli", "trends", *map(str, args)], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    """1,500 CLINC rows spread uniformly over 12 weeks, plus 150 `translate` rows placed
    increasingly late, and 7 rows without a time."""
    folder = tmp_path_factory.mktemp("planted")
    rows = timed_clinc(10, rising=PLANTED, rising_rows=150, undated=7, seed=0)
    out = folder / "run"
    kura.run(write_jsonl(rows, folder / "timed.jsonl"), out, **FAST)
    return out, rows


def planted_rows_per_cluster(run_dir: Path, rows: list[dict], level: int | None) -> Counter:
    """How many `translate` rows each cluster at ``level`` holds (None: base), from the run's paths."""
    label = {r["id"]: r["label"] for r in rows}
    table = pq.read_table(run_dir / "conversations.parquet", columns=["chat_id", "cluster_path"]).to_pylist()
    return Counter(
        r["cluster_path"][-1 if level is None else min(level, len(r["cluster_path"]) - 1)]
        for r in table
        if label[r["chat_id"]] == PLANTED and r["cluster_path"]
    )


# -- the test itself, on numbers worked out by hand ------------------------------------------------------
def test_cochran_armitage_statistic_matches_the_hand_computed_value():
    # Three periods of 10 conversations, scores 0, 1, 2; the cluster has 1, 3, 6 of them.
    # N = 30, share 1/3, mean score 1, sum n (s - 1)^2 = 20, statistic = -1 + 0 + 6 = 5,
    # variance (1/3)(2/3)(20) = 40/9, z = 5 / sqrt(40/9) = 2.3717, p = 0.0177; slope 5/20 = 0.25.
    # Homogeneity chi-square 5.7 = trend 5.625 + departure 0.075 (1 df): no extra scatter.
    slope, z, dispersion, p = trend_test(np.array([[1, 3, 6], [9, 7, 4]]), np.array([10, 10, 10]))
    assert slope == pytest.approx([0.25, -0.25])
    assert z == pytest.approx([2.3717, -2.3717], abs=1e-4)
    assert dispersion == pytest.approx([1.0, 1.0])
    assert p == pytest.approx([0.0177, 0.0177], abs=1e-4)


def test_scatter_beyond_chance_widens_the_test():
    totals = np.full(8, 1000)
    smooth = np.array([100, 110, 120, 130, 140, 150, 160, 170])
    # The same line with swings binomial noise cannot make (and no slope of their own).
    zigzag = smooth + np.array([-40, 40, 40, -40, -40, 40, 40, -40])
    slope, z, dispersion, p = trend_test(np.stack([smooth, zigzag]), totals)
    assert slope == pytest.approx([0.01, 0.01])
    assert dispersion[0] == 1.0 and dispersion[1] > 5
    assert p[0] < 1e-6 and p[1] > 0.05  # the line is clear; with such swings it could be chance


def test_benjamini_hochberg_by_hand():
    # Sorted p 0.01, 0.02, 0.03, 0.5 of m = 4: p * m / rank = 0.04, 0.04, 0.04, 0.5.
    assert benjamini_hochberg(np.array([0.03, 0.5, 0.01, 0.02])) == pytest.approx([0.04, 0.5, 0.04, 0.04])


def test_small_clusters_swinging_by_chance_are_not_reported():
    """Under the null (every conversation's period uniform), clusters of 3 to 30 conversations
    often halve or double their share between the first and last period; the test reports a
    trend in at most alpha of the tables, whatever the sizes."""
    rng = np.random.default_rng(7)
    sizes = np.tile([3, 5, 10, 20, 30], 20)  # 100 small clusters
    weeks, tables, alpha = 12, 400, 0.05
    naive = any_reported = 0
    for _ in range(tables):
        counts = np.stack([np.bincount(rng.integers(0, weeks, size), minlength=weeks) for size in sizes])
        totals = counts.sum(axis=0)
        shares = counts / totals
        naive += int(np.sum((shares[:, -1] >= 2 * shares[:, 0]) | (shares[:, -1] <= shares[:, 0] / 2)))
        _, _, _, p = trend_test(counts, totals)
        any_reported += bool((benjamini_hochberg(p) < alpha).any())
    assert naive / (tables * len(sizes)) > 0.5  # what a "share doubled or halved" rule would flag
    # At most alpha of the tables report anything (+ three binomial standard errors of 400 draws).
    assert any_reported / tables <= alpha + 3 * math.sqrt(alpha * (1 - alpha) / tables)


# -- on a run ---------------------------------------------------------------------------------------------
def test_the_planted_intent_is_reported_rising(planted):
    run_dir, rows = planted
    report = trends(run_dir, level=0)
    held = planted_rows_per_cluster(run_dir, rows, 0)
    cluster, most = held.most_common(1)[0]
    assert most > 75  # the schedule's rising rows sit mostly in one top-level cluster
    rising = {c.id: c for c in report.rising}
    assert cluster in rising
    trend = rising[cluster]
    assert trend.q < 1e-4 and trend.slope > 0 and trend.last_share > 2 * trend.first_share


def test_clusters_without_planted_rows_are_not_reported(planted):
    run_dir, rows = planted
    report = trends(run_dir)  # base clusters
    held = planted_rows_per_cluster(run_dir, rows, None)
    unplanted = [c for c in report.clusters if held[c.id] == 0]
    assert len(unplanted) > 100
    assert [c.name for c in unplanted if c.direction] == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_no_trend_is_reported_under_the_null_schedule(tmp_path: Path, seed: int):
    out = tmp_path / "run"
    kura.run(write_jsonl(timed_clinc(10, seed=seed), tmp_path / "null.jsonl"), out, **FAST)
    deepest = trends(out).level
    for level in range(deepest + 1):
        for by in ("week", "month"):
            report = trends(out, level=level, by=by)
            assert report.rising == [] and report.falling == [], (level, by)


def test_counts_per_week_are_the_schedules_times(planted):
    """Each cluster's weekly counts equal those worked out from the times the schedule gave."""
    run_dir, rows = planted
    report = trends(run_dir, level=0, by="week")
    assert report.periods[0] == SCHEDULE_START.date().isoformat() and len(report.periods) == 12
    when = {r["id"]: datetime.fromisoformat(r["created_at"]) for r in rows if "created_at" in r}
    table = pq.read_table(run_dir / "conversations.parquet", columns=["chat_id", "cluster_path"]).to_pylist()
    expected: Counter = Counter()
    for r in table:
        if r["chat_id"] in when:
            week = (when[r["chat_id"]] - SCHEDULE_START) // timedelta(weeks=1)
            expected[(r["cluster_path"][0], week)] += 1
    for c in report.clusters:
        assert c.counts.tolist() == [expected[(c.id, w)] for w in range(12)]
    assert report.totals.sum() == len(when)


def test_conversations_without_a_time_are_counted_and_left_out(planted):
    run_dir, rows = planted
    report = trends(run_dir)
    assert report.undated == 7 == sum("created_at" not in r for r in rows)
    assert report.totals.sum() == len(rows) - 7
    assert f"7 of {len(rows):,} conversations have no creation time and are left out" in report.notes


def test_a_mask_narrows_the_count(planted):
    run_dir, rows = planted
    table = pq.read_table(run_dir / "conversations.parquet", columns=["chat_id", "created_at", "cluster_path"])
    clusters = pq.read_table(run_dir / "clusters.parquet").to_pydict()
    label = {r["id"]: r["label"] for r in rows}
    mask = np.array([label[c] == PLANTED for c in table.column("chat_id").to_pylist()])
    report = analyse(table, clusters, level=0, mask=mask)
    dated_planted = sum(1 for r in rows if r["label"] == PLANTED and "created_at" in r)
    assert report.conversations == 150 and report.totals.sum() == dated_planted
    # Every counted conversation is a planted one, so the weekly totals rise with the schedule.
    assert report.totals[-3:].sum() > 3 * report.totals[:3].sum()


def test_bad_levels_and_periods_are_one_clear_error(planted):
    run_dir, _ = planted
    deepest = trends(run_dir).level
    with pytest.raises(
        ConfigError, match=rf"level {deepest + 1} is not in this run's tree: use 0 \(top\) to {deepest}"
    ):
        trends(run_dir, level=deepest + 1)
    with pytest.raises(ConfigError, match="by 'year' is unknown: use day, week or month"):
        trends(run_dir, by="year")


# -- the command ------------------------------------------------------------------------------------------
def test_the_command_lists_the_rising_cluster(planted):
    run_dir, rows = planted
    done = cli(run_dir, "--level", "0")
    assert done.returncode == 0, done.stderr
    report = trends(run_dir, level=0)
    rising = report.rising[0]
    assert "Rising (q < 0.05, Benjamini-Hochberg over" in done.stdout
    section = done.stdout.split("Rising", 1)[1].split("Falling", 1)[0]
    assert rising.name[:20] in section and f"{rising.slope * 100:+.2f} pp" in section
    assert f"7 of {len(rows):,} conversations have no creation time" in done.stdout


def test_the_command_as_json_is_the_analysis(planted):
    run_dir, _ = planted
    done = cli(run_dir, "--by", "month", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    report = trends(run_dir, by="month")
    assert body["periods"] == ["2024-01", "2024-02", "2024-03"] == report.periods
    assert body["totals"] == report.totals.tolist() and body["undated"] == 7
    assert {c["id"]: c["counts"] for c in body["clusters"]} == {c.id: c.counts.tolist() for c in report.clusters}


def test_real_exports_keep_their_own_times(tmp_path: Path):
    """The Claude and ChatGPT exports' creation times land in the months they name."""
    chatgpt, claude = shared("chatgpt_export_real.json"), ROOT / "fixtures" / "claude_export.json"
    out = tmp_path / "run"
    kura.run([chatgpt, claude], out, **FAST)
    loaded = set(pq.read_table(out / "conversations.parquet", columns=["chat_id"]).column("chat_id").to_pylist())
    months: Counter = Counter()
    for record in json.loads(chatgpt.read_text()):
        if record["id"] in loaded:
            months[datetime.fromtimestamp(record["create_time"], tz=timezone.utc).strftime("%Y-%m")] += 1
    for record in json.loads(claude.read_text()):
        if record["uuid"] in loaded:
            months[record["created_at"][:7]] += 1
    assert sum(months.values()) == len(loaded) >= 3
    done = cli(out, "--by", "month", "--level", "0", "--json")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    counted = {period: total for period, total in zip(body["periods"], body["totals"]) if total}
    assert counted == dict(months) and body["undated"] == 0


def test_a_run_without_times_is_one_clear_error(tmp_path: Path):
    out = tmp_path / "run"
    kura.run(DEMO_DATA, out, **FAST)
    done = cli(out)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: {out}: no conversation has a creation time, so there is nothing to count per week "
        "(formats with times: claude, chatgpt, kura, or a created_at field or column)"
    ]
