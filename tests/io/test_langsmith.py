"""LangSmith run exports: real runs of langsmith-sdk's test data, a chain with its LLM run, child runs."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from io_data import fixture

from kura.io import LoadReport, detect_format, load_conversations


def _runs() -> list[dict]:
    return [json.loads(line) for line in fixture("langsmith_runs.jsonl").read_text().splitlines()]


def test_real_runs_one_conversation_per_trace():
    runs = _runs()
    report = LoadReport()
    conversations = load_conversations(fixture("langsmith_runs.jsonl"), report=report)
    assert detect_format(fixture("langsmith_runs.jsonl")) == "langsmith"
    assert report.summary_lines() == ["langsmith_runs.jsonl: 4 conversations (langsmith)"]
    assert [c.chat_id for c in conversations] == list(dict.fromkeys(r["trace_id"] for r in runs))
    first = conversations[0]
    assert [(m.role, m.content) for m in first.messages] == [
        ("user", "howdy"),
        ("assistant", runs[0]["outputs"]["choices"][0]["message"]["content"]),
    ]
    # start_time in milliseconds (the JS SDK) and ISO text without a zone (the Python SDK): both UTC.
    assert first.created_at == datetime.fromtimestamp(runs[0]["start_time"] / 1000, tz=timezone.utc)
    assert first.messages[1].created_at == datetime.fromtimestamp(runs[0]["end_time"] / 1000, tz=timezone.utc)
    assert conversations[2].created_at == datetime.fromisoformat(runs[2]["start_time"]).replace(tzinfo=timezone.utc)
    usage = runs[1]["outputs"]["usage_metadata"]
    assert conversations[1].metadata["input_tokens"] == usage["input_tokens"]
    assert conversations[1].metadata["output_tokens"] == usage["output_tokens"]
    assert conversations[1].metadata["model"] == runs[1]["outputs"]["model"]


def test_a_chain_and_its_llm_run_make_one_conversation_with_feedback():
    conversation = load_conversations(fixture("langsmith_runs.jsonl"))[-1]
    root, llm = _runs()[-2:]
    assert conversation.chat_id == root["trace_id"] == llm["trace_id"]
    # LangChain's serialised messages, batched as [[...]]; the answer from generations[0][0].
    assert [m.role for m in conversation.messages] == ["system", "user", "assistant"]
    assert conversation.messages[1].content == root["inputs"]["question"]
    assert conversation.messages[2].content == root["outputs"]["output"]
    meta = conversation.metadata
    assert meta["scores"] == {"user_score": 1.0, "resolved": 0.5}
    assert meta["thread_id"] == "thread-42" and meta["user_id"] == "u-981" and meta["tags"] == ["billing", "prod"]
    assert meta["run_metadata"] == {"plan": "pro"}  # the SDK's own keys (ls_*, revision_id) left out
    assert meta["input_tokens"] == llm["prompt_tokens"] and meta["cost"] == llm["total_cost"]  # counted once
    assert meta["latency_s"] == 3.75


def test_child_runs_inside_their_parent_read_the_same(tmp_path):
    *_, root, llm = _runs()
    path = tmp_path / "trace.json"
    path.write_text(json.dumps({**root, "child_runs": [llm]}, indent=2))
    (nested,) = load_conversations(path)
    flat = load_conversations(fixture("langsmith_runs.jsonl"))[-1]
    assert [(m.role, m.content, m.created_at) for m in nested.messages] == [
        (m.role, m.content, m.created_at) for m in flat.messages
    ]


def test_a_run_without_a_trace_costs_only_itself(tmp_path):
    lines = fixture("langsmith_runs.jsonl").read_text().splitlines()
    orphan = {**json.loads(lines[0]), "trace_id": None, "parent_run_id": "somewhere"}
    path = tmp_path / "runs.jsonl"
    path.write_text("\n".join([lines[0], json.dumps(orphan), lines[1]]) + "\n")
    report = LoadReport()
    conversations = load_conversations(path, report=report)
    assert len(conversations) == 2
    assert report.files[0].issues == [
        "runs.jsonl line 2: the run has no 'trace_id' (and is not a root run with an 'id')"
    ]


def test_rows_of_a_parquet_export_are_grouped_like_json(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    # The bulk export writes runs as Parquet rows; nested fields arrive as JSON text.
    nested = ("inputs", "outputs", "extra", "feedback_stats")
    rows = [{k: json.dumps(v) if k in nested else v for k, v in run.items() if k != "tags"} for run in _runs()[-2:]]
    names = sorted({key for row in rows for key in row})
    table = pa.table({name: [None if row.get(name) is None else str(row[name]) for row in rows] for name in names})
    path = tmp_path / "runs.parquet"
    pq.write_table(table, path)
    (conversation,) = load_conversations(path)
    flat = load_conversations(fixture("langsmith_runs.jsonl"))[-1]
    assert conversation.chat_id == flat.chat_id and conversation.metadata["scores"] == flat.metadata["scores"]
    assert [(m.role, m.content, m.created_at) for m in conversation.messages] == [
        (m.role, m.content, m.created_at) for m in flat.messages
    ]
