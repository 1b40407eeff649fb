"""Creation times of real exports reach ``conversations.parquet`` and SQL unchanged."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import kura
from kura.store.export import sql

ROOT = Path(__file__).parent
CHATGPT = ROOT / "data" / "chatgpt_export_real.json"
CLAUDE = ROOT / "fixtures" / "claude_export.json"


def _exported_times(run_dir: Path) -> dict[str, datetime]:
    table = pq.read_table(run_dir / "conversations.parquet", columns=["chat_id", "created_at"]).to_pylist()
    return {row["chat_id"]: row["created_at"] for row in table}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("times") / "run"
    kura.run([CHATGPT, CLAUDE], out, embedder="hashing", projector="pca")
    return out


def test_chatgpt_create_time_comes_through_to_the_microsecond(run_dir: Path) -> None:
    exported = _exported_times(run_dir)
    for record in json.loads(CHATGPT.read_text()):
        expected = datetime.fromtimestamp(record["create_time"], tz=timezone.utc)
        assert abs((exported[record["id"]] - expected).total_seconds()) < 1e-6


def test_claude_created_at_comes_through_unchanged(run_dir: Path) -> None:
    exported = _exported_times(run_dir)
    checked = 0
    for record in json.loads(CLAUDE.read_text()):
        if record["uuid"] in exported:
            assert exported[record["uuid"]] == datetime.fromisoformat(record["created_at"].replace("Z", "+00:00"))
            checked += 1
    assert checked >= 2


def test_sql_sees_creation_times_as_timestamps(run_dir: Path) -> None:
    columns, rows = sql(
        run_dir, "select min(created_at), max(created_at), any_value(typeof(created_at)) from conversations"
    )
    earliest, latest, kind = rows[0]
    assert kind.startswith("TIMESTAMP")
    assert earliest.year == 2023 and latest.year == 2025


def test_conversations_without_times_have_empty_created_at(tmp_path: Path) -> None:
    out = tmp_path / "run"
    kura.run(ROOT.parent / "data" / "oasst_en100.jsonl", out, embedder="hashing", projector="pca")
    times = _exported_times(out)
    assert len(times) == 100 and set(times.values()) == {None}  # OpenAssistant rows carry no time


def test_a_re_run_with_only_new_times_writes_the_new_times(tmp_path: Path) -> None:
    rows = [json.loads(line) for line in (ROOT.parent / "data" / "oasst_en100.jsonl").read_text().splitlines()]
    source = tmp_path / "timed.jsonl"
    out = tmp_path / "run"
    for day in (1, 2):
        with open(source, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps({**row, "created_at": f"2026-01-0{day}T12:00:00Z"}) + "\n")
        kura.run(source, out, embedder="hashing", projector="pca")
        assert {t.day for t in _exported_times(out).values()} == {day}
