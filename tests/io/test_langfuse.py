"""Langfuse trace exports: real trace downloads (Langfuse's own framework traces), sessions, API pages."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from io_data import fixture

from kura.io import LoadReport, detect_format, load_conversations


def _load(path, **kwargs):
    report = LoadReport()
    return load_conversations(path, report=report, **kwargs), report


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_langgraph_trace_download_is_one_conversation():
    path = fixture("langfuse_trace_langgraph.json")
    raw = json.loads(path.read_text())
    assert detect_format(path) == "langfuse"
    (conversation,), report = _load(path)
    assert report.summary_lines() == ["langfuse_trace_langgraph.json: 1 conversation (langfuse)"]
    assert conversation.chat_id == raw["trace"]["id"]
    # Two generations, each sent the history so far: merged without repeats, the tools offered left out.
    assert [m.role for m in conversation.messages] == ["user", "assistant", "tool", "assistant"]
    assert conversation.messages[0].content == "Be helpful!\n\nSearch the web for 'example' and summarize."
    assert conversation.messages[1].content == '[tool call: Web-Search]\n{"query": "example"}'
    assert json.loads(conversation.messages[2].content)[0]["url"] == "https://example.com"
    generations = [o for o in raw["observations"] if o["type"] == "GENERATION"]
    final = max(generations, key=lambda o: o["startTime"])
    assert conversation.messages[3].content == final["output"]["content"]
    # Times: the trace's for the conversation; each message the time of the call that first showed it.
    assert conversation.created_at == _utc(raw["trace"]["timestamp"])
    first = min(generations, key=lambda o: o["startTime"])
    assert conversation.messages[0].created_at == _utc(first["startTime"])
    assert conversation.messages[1].created_at == _utc(first["endTime"])
    assert conversation.messages[3].created_at == _utc(final["endTime"])
    meta = conversation.metadata
    assert meta["scores"] == {s["name"]: s["value"] for s in raw["trace"]["scores"]}
    assert meta["model"] == "gpt-4o-2024-08-06" and meta["trace_name"] == "LangGraph"
    assert meta["input_tokens"] == sum(g["usageDetails"]["input"] for g in generations)
    assert meta["output_tokens"] == sum(g["usageDetails"]["output"] for g in generations)
    assert abs(meta["cost"] - sum(g["totalCost"] for g in generations)) < 1e-12
    assert meta["latency_s"] == raw["trace"]["latency"]


def test_traces_of_one_session_are_one_conversation():
    path = fixture("langfuse_traces.jsonl")
    traces = [json.loads(line) for line in path.read_text().splitlines()]
    conversations, report = _load(path)
    assert report.summary_lines() == ["langfuse_traces.jsonl: 3 conversations (langfuse)"]
    by_id = {c.chat_id: c for c in conversations}
    session = [t["trace"] for t in traces if t["trace"].get("sessionId") == "session_abc"]
    assert len(session) == 2
    merged = by_id["session_abc"]
    assert merged.metadata["trace_ids"] == [t["id"] for t in sorted(session, key=lambda t: t["timestamp"])]
    assert merged.metadata["user_id"] == "user_123" and merged.metadata["session_id"] == "session_abc"
    assert merged.metadata["tags"] == ["llama-index", "rag", "autogen", "dev"]
    # The earlier trace's turn first: its question came in as the traced function's argument.
    assert [m.role for m in merged.messages] == ["user", "assistant", "user", "assistant"]
    assert merged.messages[0].content == "What is Langfuse?"
    assert merged.messages[-1].content == "Hello World!"
    assert merged.created_at == min(_utc(t["timestamp"]) for t in session)
    assert merged.metadata["latency_s"] == round(sum(t["latency"] for t in session), 3)
    # A trace without a session keeps its own id; the assistant's greeting came before the question.
    tutor = by_id["b3b7b128-5664-4f42-9fab-31999da9e2f1"]
    assert [m.role for m in tutor.messages] == ["assistant", "user", "assistant"]
    assert tutor.messages[1].content == "I need to solve the equation `3x + 11 = 14`. Can you help me?"
    vertex = by_id["vertex-gemini-trace-001"]
    assert vertex.messages[0].role == "system" and vertex.messages[-1].content.startswith("Thank you, John Smith.")


def test_an_api_page_of_traces_and_bad_traces_cost_only_themselves(tmp_path):
    downloads = [json.loads(line) for line in fixture("langfuse_traces.jsonl").read_text().splitlines()]
    # The public API's form: a page of traces, each with its observations inside.
    page = {"data": [{**d["trace"], "observations": d["observations"]} for d in downloads], "meta": {"page": 1}}
    page["data"].insert(1, {"timestamp": "2025-01-01T00:00:00Z", "sessionId": None, "projectId": "p"})  # no id
    path = tmp_path / "traces_page.json"
    path.write_text(json.dumps(page))
    assert detect_format(path) == "langfuse"
    conversations, report = _load(path)
    assert {c.chat_id for c in conversations} == {
        "b3b7b128-5664-4f42-9fab-31999da9e2f1",
        "session_abc",
        "vertex-gemini-trace-001",
    }
    assert report.files[0].issues == ["traces_page.json line 1 data[1]: the trace has no 'id'"]


def test_a_broken_line_and_an_empty_trace_cost_only_themselves(tmp_path):
    lines = fixture("langfuse_traces.jsonl").read_text().splitlines()
    empty = {"trace": {"id": "t-empty", "timestamp": "2025-01-01T00:00:00Z", "sessionId": None}, "observations": []}
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join([lines[0], lines[1][:200], json.dumps(empty), lines[3]]) + "\n")
    conversations, report = _load(path)
    assert [c.chat_id for c in conversations] == ["b3b7b128-5664-4f42-9fab-31999da9e2f1", "vertex-gemini-trace-001"]
    issues = report.files[0].issues
    assert len(issues) == 2 and report.files[0].skipped == 2
    assert issues[0].startswith("export.jsonl line 2: not valid JSON")
    assert issues[1] == "export.jsonl line 3: conversation 't-empty' has no messages with text in any of its 1 records"


def test_observations_exported_on_their_own_are_grouped_by_trace(tmp_path):
    raw = json.loads(fixture("langfuse_trace_langgraph.json").read_text())
    path = tmp_path / "observations.jsonl"
    path.write_text("".join(json.dumps(o) + "\n" for o in raw["observations"]))
    assert detect_format(path) == "langfuse"
    (conversation,) = load_conversations(path)
    (from_download,) = load_conversations(fixture("langfuse_trace_langgraph.json"))
    assert conversation.chat_id == raw["trace"]["id"]
    assert [(m.role, m.content, m.created_at) for m in conversation.messages] == [
        (m.role, m.content, m.created_at) for m in from_download.messages
    ]
    assert conversation.created_at == from_download.messages[0].created_at.astimezone(timezone.utc)
