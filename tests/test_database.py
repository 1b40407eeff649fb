"""The run's DuckDB database (kura.duckdb): its tables match the run's files, a damaged one is
never trusted and is rebuilt, and ``kura export`` writes the same tables in every format."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from kura_testdata import clinc_slice

import kura
from kura.errors import ConfigError
from kura.store.database import build_database, current_database, export_tables, refresh_database
from kura.store.export import sql
from kura.store.run import RunStore

FAST = dict(embedder="hashing", projector="pca")
TABLES = {"conversations", "messages", "summaries", "clusters", "memberships", "positions"}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _make_run(root: Path) -> Path:
    rows = clinc_slice(3)
    source = root / "clinc450.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = root / "run"
    kura.run(source, out, clusters_per_group=8, **FAST)
    return out


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_run(tmp_path_factory.mktemp("database"))


def _query(run: Path, query: str) -> list[tuple]:
    return sql(run, query)[1]


def test_every_table_is_there_and_holds_what_the_run_files_hold(run_dir: Path) -> None:
    assert current_database(run_dir) == run_dir / "kura.duckdb"
    tables = {name for name, _ in sql(run_dir, ".tables")[1]}
    assert TABLES <= tables
    conversations = _lines(run_dir / "conversations.jsonl")
    summaries = _lines(run_dir / "summaries.jsonl")
    tree = _lines(run_dir / "meta_clusters.jsonl")
    assert _query(run_dir, "select count(*) from conversations") == [(len(summaries),)] == [(450,)]
    assert _query(run_dir, "select count(*) from messages") == [(sum(len(c["messages"]) for c in conversations),)]
    assert _query(run_dir, "select count(*) from summaries") == [(len(summaries),)]
    assert _query(run_dir, "select count(*) from clusters") == [(len(tree),)]
    # Every cluster holds every conversation below it: one membership per (cluster, member).
    assert _query(run_dir, "select count(*) from memberships") == [(sum(len(c["chat_ids"]) for c in tree),)]
    assert _query(run_dir, "select kind, count(*) from positions group by 1 order by 1") == [
        ("cluster", len(tree)),
        ("conversation", 450),
    ]
    # Messages keep their text and order; the metadata's simple keys are columns of their own.
    first = conversations[0]
    got = _query(run_dir, f"select role, content from messages where chat_id = '{first['chat_id']}' order by position")
    assert got == [(m["role"], m["content"]) for m in first["messages"]]
    labels = dict(_query(run_dir, "select chat_id, label from conversations"))
    assert labels == {c["chat_id"]: c["metadata"]["label"] for c in conversations}


def test_memberships_place_each_conversation_at_every_level(run_dir: Path) -> None:
    tree = {c["id"]: c for c in _lines(run_dir / "meta_clusters.jsonl")}
    # Per top-level cluster, its conversations counted through memberships.
    per_top = dict(
        _query(
            run_dir,
            "select m.cluster_id, count(distinct m.chat_id) from memberships m join clusters c on c.id = m.cluster_id "
            "where c.level = 0 and c.parent_id is null group by 1",
        )
    )
    assert per_top == {i: len(c["chat_ids"]) for i, c in tree.items() if c["parent_id"] is None}
    # depth 0 is the conversation's base cluster; each step up is its parent's parent.
    base = dict(_query(run_dir, "select chat_id, cluster_id from memberships where depth = 0"))
    assert base == dict(_query(run_dir, "select chat_id, cluster_id from conversations"))
    steps = _query(
        run_dir,
        "select child.cluster_id, parent.cluster_id from memberships child join memberships parent "
        "on parent.chat_id = child.chat_id and parent.depth = child.depth + 1",
    )
    assert steps and all(tree[c]["parent_id"] == p for c, p in steps)
    levels = _query(
        run_dir, "select distinct m.level = c.level from memberships m join clusters c on c.id = m.cluster_id"
    )
    assert levels == [(True,)]


def test_a_damaged_database_is_never_read_and_the_next_run_rebuilds_it(tmp_path: Path) -> None:
    run = _make_run(tmp_path)
    database = run / "kura.duckdb"
    good = database.read_bytes()
    for damage in (good[: len(good) // 2], b"not a database at all\n" * 100):
        database.write_bytes(damage)
        assert current_database(run) is None
        # kura sql reads the Parquet tables instead: the damaged file is never opened.
        assert _query(run, "select count(*) from conversations") == [(450,)]
        with pytest.raises(duckdb.CatalogException):
            sql(run, "select count(*) from messages")
        result = kura.run(tmp_path / "clinc450.jsonl", run, clusters_per_group=8, **FAST)
        assert "export" not in result.reused and "embed" in result.reused  # only the tables are written again
        assert current_database(run) == database
        assert _query(run, "select count(*) from messages") == [(450,)]
    # A run recorded before the database existed (its export record lacks the file) writes it.
    meta = json.loads((run / "run.json").read_text())
    del meta["stages"]["export"]["files"]["kura.duckdb"]
    (run / "run.json").write_text(json.dumps(meta))
    database.unlink()
    kura.run(tmp_path / "clinc450.jsonl", run, clusters_per_group=8, **FAST)
    assert current_database(run) == database


def test_a_failed_build_leaves_no_file_behind(run_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    (broken / "kura.duckdb").unlink()
    (broken / "summaries.jsonl").write_text("{not json\n")
    with pytest.raises(duckdb.Error):
        build_database(broken, broken / "kura.duckdb")
    assert not (broken / "kura.duckdb").exists()
    assert not [p.name for p in broken.iterdir() if p.name.startswith(".kura.duckdb")]


def test_outcomes_join_the_database_and_sql_sees_them(run_dir: Path, tmp_path: Path) -> None:
    run = tmp_path / "with-outcomes"
    shutil.copytree(run_dir, run)
    conversations = _lines(run / "conversations.jsonl")
    # A per-conversation number from the data itself: words in the user's request.
    words = {c["chat_id"]: len(c["messages"][0]["content"].split()) for c in conversations}
    pq.write_table(pa.table({"chat_id": list(words), "words": list(words.values())}), run / "outcomes.parquet")
    # Before the database is rebuilt, kura sql reads outcomes.parquet beside it.
    assert _query(run, "select sum(words) from outcomes") == [(sum(words.values()),)]
    store = RunStore(run, write=True)
    try:
        refresh_database(store)
    finally:
        store.close()
    assert current_database(run) == run / "kura.duckdb"
    by_top = _query(
        run,
        "select c.top_cluster_id, sum(o.words) from conversations c join outcomes o using (chat_id) group by 1",
    )
    assert sum(total for _, total in by_top) == sum(words.values())
    with duckdb.connect(str(run / "kura.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from outcomes").fetchone() == (450,)


@pytest.mark.parametrize(
    "format, reader",
    [("parquet", "read_parquet"), ("csv", "read_csv"), ("json", "read_json")],
)
def test_export_writes_every_table_and_reads_back(run_dir: Path, tmp_path: Path, format: str, reader: str) -> None:
    written = export_tables(run_dir, tmp_path / format, format)
    assert {p.stem for p in written} == TABLES
    with duckdb.connect(str(run_dir / "kura.duckdb"), read_only=True) as db, duckdb.connect() as con:
        for path in written:
            original = db.execute(f"select * from {path.stem}").fetchall()
            back = con.execute(f"select * from {reader}('{path}')").fetchall()
            assert len(back) == len(original), path.name
            # The first column (chat_id or id, or kind) reads back as written, row for row.
            assert Counter(str(r[0]) for r in back) == Counter(str(r[0]) for r in original), path.name
        counts = con.execute(
            f"select cluster_id, count(*) from {reader}('{tmp_path / format}/conversations.*') group by 1"
        )
        assert dict(counts.fetchall()) == dict(
            db.execute("select cluster_id, count(*) from conversations group by 1").fetchall()
        )


def test_export_of_a_run_without_its_database_builds_one_aside(run_dir: Path, tmp_path: Path) -> None:
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    (old / "kura.duckdb").unlink()
    written = export_tables(old, tmp_path / "out", "parquet")
    assert {p.stem for p in written} == TABLES
    assert not (old / "kura.duckdb").exists()  # the run itself is not touched
    with pytest.raises(ConfigError, match="--format 'xml' is unknown"):
        export_tables(run_dir, tmp_path / "x", "xml")


def test_cli_export_and_tables(run_dir: Path, tmp_path: Path) -> None:
    def kura_cli(*args: object) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "kura.cli", *map(str, args)], capture_output=True, text=True, timeout=300
        )

    done = kura_cli("export", run_dir, "--format", "csv", "--out", tmp_path / "csv")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == sorted(f"{t}.csv" for t in TABLES)
    tables = kura_cli("sql", run_dir, ".tables")
    assert tables.returncode == 0 and all(t in tables.stdout for t in TABLES)
    bad = kura_cli("export", run_dir, "--format", "xml", "--out", tmp_path / "x")
    assert bad.returncode == 1 and "--format 'xml' is unknown" in bad.stderr and "Traceback" not in bad.stderr
