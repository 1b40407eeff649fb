"""The `kura` command as a user runs it: a real process, real files, exit codes and output."""

import json
import subprocess
import sys

import pytest
from kura_testdata import DEMO_DATA

FAST = ["--embedder", "hashing", "--projector", "pca", "--quiet"]


def kura(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "kura.cli", *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300
    )


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    done = kura("run", DEMO_DATA, "--out", out, *FAST)
    assert done.returncode == 0, done.stderr
    return done, out


def test_run_prints_the_tree_with_counts_and_shares(cli_run):
    done, out = cli_run
    assert "All conversations (100)" in done.stdout
    assert "Mode: extractive (no language model)" in done.stdout
    assert "%)" in done.stdout and f"kura tree {out}" in done.stdout.replace("\n", "")


def test_tree_prints_the_same_tree_again_in_every_style(cli_run):
    _, out = cli_run
    tops = [
        c
        for c in (json.loads(line) for line in (out / "meta_clusters.jsonl").read_text().splitlines())
        if c["parent_id"] is None
    ]
    rich = kura("tree", out)
    assert rich.returncode == 0 and all(t["name"] in rich.stdout for t in tops)
    basic = kura("tree", out, "--style", "basic")
    assert basic.stdout.startswith("Clusters (100 conversations)") and "╚══ " in basic.stdout
    as_json = json.loads(kura("tree", out, "--style", "json").stdout)
    assert sum(node["count"] for node in as_json) == 100


def test_sql_queries_the_run(cli_run):
    _, out = cli_run
    done = kura("sql", out, "select count(*) as n from conversations")
    assert done.returncode == 0 and "100" in done.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "does-not-exist.jsonl", "--out", "{tmp}/r"], "does-not-exist.jsonl"),
        (["run", str(DEMO_DATA), "--out", "{tmp}/r", "--clusterer", "magic", *FAST], "clusterer='magic' is unknown"),
        (
            ["run", str(DEMO_DATA), "--out", "{tmp}/r", "--clusters-per-group", "0", *FAST],
            "clusters_per_group=0 should be >= 1",
        ),
        (["tree", "{tmp}"], "not a Kura run directory"),
        (["sql", "{tmp}", "select 1"], "not a Kura run directory"),
    ],
)
def test_errors_are_one_clear_line_and_a_non_zero_exit(tmp_path, args, message):
    done = kura(*[a.format(tmp=tmp_path) for a in args])
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "--bogus"], "No such option: --bogus"),
        (["run", str(DEMO_DATA), "--privacy", "lax"], "privacy='lax': value error, unknown profile"),
        (["report", "{tmp}", "--out", "x.html"], "No such option: --out"),
    ],
)
def test_usage_errors_are_clicks_message_never_a_traceback(tmp_path, args, message):
    done = kura(*[a.format(tmp=tmp_path) for a in args])
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) <= 4


def test_bad_sql_is_a_clear_error(cli_run):
    _, out = cli_run
    done = kura("sql", out, "select nope from conversations")
    assert done.returncode == 1 and "query failed" in done.stderr and "Traceback" not in done.stderr


def test_help_and_formats():
    done = kura("--help")
    assert done.returncode == 0 and all(c in done.stdout for c in ["run", "tree", "sql", "formats"])
    formats = kura("formats")
    assert all(
        name in formats.stdout
        for name in ["claude", "chatgpt", "sharegpt", "openai", "kura", "hh-rlhf", "csv", "parquet"]
        + ["langfuse", "langsmith", "otel", "openai-log", "anthropic-log"]
    )
