"""OpenAI Chat Completions request logs: real recorded calls (opentelemetry-python-contrib's cassettes)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from io_data import fixture

from kura.io import LoadReport, detect_format, load_conversations


def _records() -> list[dict]:
    return [json.loads(line) for line in fixture("openai_chat_log.jsonl").read_text().splitlines()]


def test_real_calls_read_with_their_answer_usage_and_times():
    path = fixture("openai_chat_log.jsonl")
    assert detect_format(path) == "openai-log"
    report = LoadReport()
    conversations = load_conversations(path, report=report)
    records = _records()
    assert report.summary_lines() == ["openai_chat_log.jsonl: 4 conversations (openai-log)"]
    assert [c.chat_id for c in conversations] == [r["id"] for r in records]
    first = conversations[0]
    assert [(m.role, m.content) for m in first.messages] == [
        ("user", "Say this is a test"),
        ("assistant", "This is a test."),
    ]
    assert first.created_at == datetime.fromisoformat(records[0]["timestamp"].replace("Z", "+00:00"))
    assert first.messages[1].created_at == datetime.fromtimestamp(records[0]["response"]["created"], tz=timezone.utc)
    assert first.metadata["input_tokens"] == 12 and first.metadata["output_tokens"] == 5
    assert first.metadata["model"] == "gpt-4o-mini-2024-07-18" and first.metadata["finish_reason"] == "stop"
    assert first.metadata["latency_s"] == records[0]["latency_ms"] / 1000
    # The tool round trip: calls, the tools' answers, the final answer.
    second_call = conversations[2]
    assert [m.role for m in second_call.messages] == ["system", "user", "assistant", "tool", "tool", "assistant"]
    assert second_call.messages[2].content.startswith('[tool call: get_current_weather]\n{"location": "Seattle, WA"}')
    assert second_call.messages[-1].content.startswith("Today, the weather in Seattle is 50 degrees")


def test_failed_calls_and_bad_lines_cost_only_themselves(tmp_path):
    lines = fixture("openai_chat_log.jsonl").read_text().splitlines()
    failed = {
        "id": "req_failed",
        "timestamp": "2024-11-12T08:00:00Z",
        "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Summarise my last invoice"}]},
        "response": None,
        "error": {"message": "Rate limit reached", "type": "rate_limit_error"},
    }
    no_messages = {"request": {"model": "gpt-4o-mini"}, "response": json.loads(lines[0])["response"]}
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join([lines[0], json.dumps(failed), json.dumps(no_messages), lines[1]]) + "\n")
    report = LoadReport()
    conversations = load_conversations(path, format="openai-log", report=report)
    assert [c.chat_id for c in conversations] == [json.loads(lines[0])["id"], "req_failed", json.loads(lines[1])["id"]]
    assert conversations[1].metadata["error"] == "Rate limit reached"
    assert [m.role for m in conversations[1].messages] == ["user"]
    assert report.files[0].issues == ["calls.jsonl line 3: 'messages' is missing"]
