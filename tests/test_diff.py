"""kura diff on real CLINC150 runs with planted changes (tests/diff_planted.py): each planted
change is reported as planted, by shared ids and by content, and untouched intents stay unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from diff_planted import PER_INTENT, majority, planted, reported, write_jsonl
from kura_testdata import clinc_slice

import kura
from kura.analysis.diff import Group, RunClusters, diff_clusters, diff_runs, load_clusters
from kura.errors import KuraError

SETTINGS = dict(embedder="minilm", projector="pca", clusters_per_group=PER_INTENT)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("diff")
    rows_a, by_ids, roles = planted(shared_ids=True)
    _, by_content, _ = planted(shared_ids=False)
    kura.run(write_jsonl(rows_a, root / "a.jsonl"), root / "a", **SETTINGS)
    kura.run(write_jsonl(by_ids, root / "b-ids.jsonl"), root / "b-ids", **SETTINGS)
    kura.run(write_jsonl(by_content, root / "b-content.jsonl"), root / "b-content", **SETTINGS)
    label = {r["id"]: r["label"] for r in rows_a + by_ids + by_content}
    return {"root": root, "roles": roles, "label": label}


@pytest.mark.parametrize("run_b, method", [("b-ids", "ids"), ("b-content", "content")])
def test_planted_changes_are_reported_as_planted(runs: dict, run_b: str, method: str) -> None:
    root, roles, label = runs["root"], runs["roles"], runs["label"]
    a, b = load_clusters(root / "a"), load_clusters(root / run_b)
    result = diff_clusters(a, b)
    assert result.method == method
    assert (result.total_a, result.total_b) == (750, 25 * PER_INTENT - PER_INTENT + PER_INTENT // 2 + PER_INTENT)
    statuses = reported(result, a, b, label)
    for status, intent in roles.items():
        assert statuses[intent] == [status], f"{intent} (planted {status}) was reported {statuses[intent]}"
    untouched = [s for intent, found in statuses.items() if intent not in roles.values() for s in found]
    assert untouched.count("unchanged") >= 0.9 * len(untouched)
    # Counts and shares are those of the runs: every conversation is in exactly one change.
    assert sum(c.count_a for c in result.changes) == 750
    assert sum(c.count_b for c in result.changes) == result.total_b
    grown = next(c for c in result.changes if c.status == "grown")
    assert grown.share_b / grown.share_a >= 1.5 and grown.p_value is not None and grown.p_value < 0.05


def test_clusters_split_and_merged(runs: dict) -> None:
    """Clusters made from the intent labels: A joins two intents that B keeps apart (a split),
    and B joins two that A keeps apart (a merge); everything else is unchanged."""
    rows = clinc_slice(20)
    intents = sorted({r["label"] for r in rows})[:12]
    rows = [r for r in rows if r["label"] in intents]

    def clusters(name: str, joined: set[str]) -> RunClusters:
        groups: dict[str, set[str]] = {}
        for r in rows:
            key = "+".join(sorted(joined)) if r["label"] in joined else r["label"]
            groups.setdefault(key, set()).add(r["id"])
        return RunClusters(name, [Group(k, k, "", frozenset(v)) for k, v in groups.items()])

    split = diff_clusters(clusters("a", {intents[0], intents[1]}), clusters("b", set()))
    assert [(c.status, len(c.a), len(c.b)) for c in split.changes if c.status != "unchanged"] == [("split", 1, 2)]
    assert split.counts()["unchanged"] == 10
    merged = diff_clusters(clusters("a", set()), clusters("b", {intents[2], intents[3]}))
    assert [(c.status, len(c.a), len(c.b)) for c in merged.changes if c.status != "unchanged"] == [("merged", 2, 1)]


def test_runs_with_other_embedders_are_matched_by_names(runs: dict) -> None:
    root, roles, label = runs["root"], runs["roles"], runs["label"]
    a, b = load_clusters(root / "a"), load_clusters(root / "b-content")
    result = diff_clusters(a, replace(b, embedder="another-embedder"))
    assert result.method == "names"
    statuses = reported(result, a, b, label)
    assert statuses[roles["vanished"]] == ["vanished"] and statuses[roles["new"]] == ["new"]


def test_a_level_of_the_tree_covers_every_conversation(runs: dict) -> None:
    root = runs["root"]
    top = diff_runs(root / "a", root / "b-ids", level=0)
    assert top.level == 0 and sum(c.count_a for c in top.changes) == 750
    assert all(majority(g.chat_ids, runs["label"]) for g in load_clusters(root / "a", 0).groups)
    with pytest.raises(KuraError, match="--level 9 is not in the tree"):
        diff_runs(root / "a", root / "b-ids", level=9)


def test_cli_prints_the_changes_and_json(runs: dict, tmp_path: Path) -> None:
    root = runs["root"]

    def kura_cli(*args: object) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "kura.cli", *map(str, args)], capture_output=True, text=True, timeout=300
        )

    done = kura_cli("diff", root / "a", root / "b-ids")
    assert done.returncode == 0, done.stderr
    assert "by shared conversations" in done.stdout
    for status in ("new", "vanished", "grown", "shrunk"):
        assert f"1 {status}" in done.stdout
    as_json = json.loads(kura_cli("diff", root / "a", root / "b-content", "--json").stdout)
    assert as_json["method"] == "content" and as_json["counts"]["vanished"] == 1
    assert {c["status"] for c in as_json["changes"]} >= {"new", "vanished", "grown", "shrunk", "unchanged"}
    bad = kura_cli("diff", root / "a", tmp_path)
    assert bad.returncode == 1 and "not a Kura run directory" in bad.stderr and "Traceback" not in bad.stderr
