"""CSV/TSV and Parquet: a row per message grouped by id, a row per conversation, column mapping."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from io_data import fixture, shared

from kura.errors import ConfigError, InputError
from kura.io import LoadReport, load_conversations, parse_column_map


def _oasst(ids):
    rows = {r["id"]: r for r in map(json.loads, shared("oasst_en100.jsonl").read_text().splitlines())}
    return [rows[i] for i in ids]


OASST_IDS = [
    "oasst-c8ebb088-339d-4ce3-a5dc-146166633a94",
    "oasst-0fc02c29-0e95-4dc4-b915-2f3d3078c6cd",
    "oasst-c63def7e-ecd4-40e5-a3c2-03c1240b5a21",
]


def test_interleaved_message_rows_are_grouped_by_conversation():
    # Columns guessed: conversation_id (before message_id), speaker, text, ts.
    report = LoadReport()
    conversations = load_conversations(fixture("oasst_messages.csv"), report=report)
    assert [c.chat_id for c in conversations] == OASST_IDS
    for conversation, original in zip(conversations, _oasst(OASST_IDS)):
        assert [(m.role, m.content) for m in conversation.messages] == [
            (m["role"], m["content"]) for m in original["messages"]
        ]
    assert conversations[0].created_at == datetime(2024, 5, 1, 12, 1, tzinfo=timezone.utc)
    assert [m.created_at.minute for m in conversations[1].messages] == [2, 5, 7]  # one row per minute, interleaved
    assert conversations[0].metadata == {"source_file": "oasst_messages.csv", "source_format": "csv"}
    assert report.summary_lines() == ["oasst_messages.csv: 3 conversations (csv)"]


def test_explicit_mapping_and_cli_syntax():
    columns = parse_column_map("id=conversation_id, role=speaker,content=text,created_at=")
    assert columns == {"id": "conversation_id", "role": "speaker", "content": "text", "created_at": ""}
    conversations = load_conversations(fixture("oasst_messages.csv"), columns=columns)
    assert len(conversations) == 3 and conversations[0].created_at is None  # created_at= : no such column
    # Without a role column, every row is its own conversation (message_id as the id).
    rows = load_conversations(fixture("oasst_messages.csv"), columns={"id": "message_id", "role": ""})
    assert [c.chat_id for c in rows[:2]] == ["m1", "m2"] and len(rows) == 9
    assert rows[0].metadata["speaker"] == "customer" and rows[0].metadata["conversation_id"] == OASST_IDS[0]


def test_one_row_per_conversation_keeps_other_columns():
    conversations = load_conversations(fixture("clinc150_slice.csv"))
    assert len(conversations) == 20
    first = conversations[0]
    assert first.chat_id == "clinc150-train-0"
    assert [(m.role, m.content) for m in first.messages] == [
        ("user", "what expression would i use to say i love you if i were an italian")
    ]
    assert first.metadata == {"source_file": "clinc150_slice.csv", "source_format": "csv", "label": "translate"}
    assert {c.metadata["label"] for c in conversations} == {"translate", "transfer", "timer", "pto_balance", "weather"}


def test_parquet_reads_like_csv(tmp_path):
    with open(fixture("oasst_messages.csv"), newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    table = pa.Table.from_pylist([{**r, "ts": datetime.fromisoformat(r["ts"].replace("Z", "+00:00"))} for r in rows])
    path = tmp_path / "messages.parquet"
    pq.write_table(table, path, row_group_size=4)
    conversations = load_conversations(path)
    assert [c.chat_id for c in conversations] == OASST_IDS
    assert [len(c.messages) for c in conversations] == [2, 3, 4]
    assert conversations[2].messages[0].created_at == datetime(2024, 5, 1, 12, 3, tzinfo=timezone.utc)


def test_parquet_rows_holding_messages_are_records(tmp_path):
    rows = [json.loads(line) for line in shared("oasst_en100.jsonl").read_text().splitlines()[:10]]
    path = tmp_path / "train-00000-of-00001.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    conversations = load_conversations(path)
    assert [c.chat_id for c in conversations] == [r["id"] for r in rows]
    assert conversations[1].messages[2].content == rows[1]["messages"][2]["content"]
    assert conversations[0].metadata["source_format"] == "parquet"


def test_tsv_and_semicolons(tmp_path):
    (tmp_path / "a.tsv").write_text("id\ttext\n1\thello, world\n")
    (tmp_path / "b.csv").write_text("id;text;lang\n7;bonjour, le monde;fr\n")
    a, b = load_conversations([tmp_path / "a.tsv", tmp_path / "b.csv"])
    assert (a.chat_id, a.messages[0].content) == ("1", "hello, world")
    assert (b.chat_id, b.messages[0].content, b.metadata["lang"]) == ("7", "bonjour, le monde", "fr")


def test_columns_that_cannot_be_guessed_are_listed(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_text("uid,utterance_text,when\n1,hi,2024-01-01\n")
    with pytest.raises(InputError) as info:
        load_conversations(path)
    assert str(info.value) == (
        "odd.csv: cannot tell which column holds the message text; its columns are: 'uid', 'utterance_text', 'when'. "
        "Name it with columns={'content': NAME} (command line: --columns content=NAME)"
    )
    with pytest.raises(
        InputError, match=r"odd.csv: has no column 'body' \(given for content\); its columns are: 'uid'"
    ):
        load_conversations(path, columns={"content": "body"})
    (conversation,) = load_conversations(path, columns={"content": "utterance_text", "id": "uid", "created_at": "when"})
    assert conversation.chat_id == "1" and conversation.created_at == datetime(2024, 1, 1)


def test_role_without_id_and_bad_rows(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("role,text\nuser,hi\n")
    with pytest.raises(
        InputError, match="has a role column \\('role'\\), so each row is a message, but no conversation id"
    ):
        load_conversations(path)
    path.write_text(
        "chat,role,text,time\na,user,hi,2024-01-01T10:00:00\na,robot,beep,\nb,user,,\na,assistant,hello,later\n"
    )
    report = LoadReport()
    (conversation,) = load_conversations(path, report=report, columns={"id": "chat"})
    assert [m.content for m in conversation.messages] == ["hi"]
    assert report.files[0].issues == [
        "log.csv line 3: 'role': unknown role 'robot' (known: user, assistant, system, tool and their usual aliases)",
        "log.csv line 4: 'text' is empty",
        "log.csv line 5: 'time': 'later' is not a time (expected ISO 8601 or unix seconds)",
    ]


def test_an_undecodable_row_costs_only_itself(tmp_path):
    path = tmp_path / "big.csv"
    rows = "".join(f"{i},question number {i} about invoices\n" for i in range(3000))  # past the 64 KiB sniff
    path.write_bytes(b"id,text\n" + rows.encode() + "3000,caf\xe9\n".encode("latin-1") + b"3001,after\n")
    report = LoadReport()
    conversations = load_conversations(path, report=report)
    assert (
        len(conversations) == 3001 and conversations[2999].messages[0].content == "question number 2999 about invoices"
    )
    assert conversations[-1].messages[0].content == "after"
    assert report.files[0].issues == ["big.csv line 3002: not UTF-8 text"]


def test_parse_column_map_errors():
    with pytest.raises(ConfigError, match="unknown key 'speaker': use id, role, content, created_at"):
        parse_column_map("speaker=role")
    with pytest.raises(ConfigError, match="'content' should be KEY=COLUMN"):
        parse_column_map("content")
