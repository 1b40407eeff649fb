"""Anthropic Messages API request logs: real recorded calls, system prompts and content blocks."""

from __future__ import annotations

import json
from datetime import datetime

from io_data import fixture

from kura.io import LoadReport, detect_format, load_conversations


def _records() -> list[dict]:
    return [json.loads(line) for line in fixture("anthropic_messages_log.jsonl").read_text().splitlines()]


def test_real_calls_tool_use_and_thinking():
    path = fixture("anthropic_messages_log.jsonl")
    assert detect_format(path) == "anthropic-log"
    report = LoadReport()
    tool, thinking, hello = load_conversations(path, report=report)
    records = _records()
    assert report.summary_lines() == ["anthropic_messages_log.jsonl: 3 conversations (anthropic-log)"]
    assert [(m.role, m.content) for m in tool.messages] == [
        ("user", "What is the weather in SF?"),
        ("assistant", "[tool call: get_weather]\ncity: San Francisco"),
    ]
    # The response has no time: the log's timestamp is the conversation's and the answer's.
    when = datetime.fromisoformat(records[0]["timestamp"].replace("Z", "+00:00"))
    assert tool.created_at == when and tool.messages[1].created_at == when
    assert tool.metadata["stop_reason"] == "tool_use" and tool.metadata["input_tokens"] == 386
    # Thinking blocks are the model's private reasoning: only the text block is the answer.
    text = [b["text"] for b in records[1]["response"]["content"] if b["type"] == "text"]
    assert [m.content for m in thinking.messages[1:]] == text
    assert hello.chat_id == records[2]["id"] and hello.metadata["model"] == "claude-sonnet-4-20250514"


def test_system_blocks_and_tool_results(tmp_path):
    tool_use = _records()[0]
    call = tool_use["response"]["content"][0]
    follow_up = {
        "id": "req_follow_up",
        "timestamp": "2026-03-03T03:03:15Z",
        "request": {
            "model": "claude-sonnet-4-20250514",
            "system": [{"type": "text", "text": "You answer weather questions."}],
            "messages": [
                *tool_use["request"]["messages"],
                {"role": "assistant", "content": tool_use["response"]["content"]},
                {
                    "role": "user",
                    "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "18°C, fog"}],
                },
            ],
        },
        "response": {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "text", "text": "It is 18°C and foggy."}],
        },
    }
    broken = {"request": {"messages": [{"role": "robot", "content": "hi"}]}, "response": follow_up["response"]}
    path = tmp_path / "calls.jsonl"
    path.write_text(json.dumps(follow_up) + "\n" + json.dumps(broken) + "\n")
    report = LoadReport()
    (conversation,) = load_conversations(path, report=report)
    assert [m.role for m in conversation.messages] == ["system", "user", "assistant", "tool", "assistant"]
    assert conversation.messages[0].content == "You answer weather questions."
    assert conversation.messages[3].content == "[tool result: tool]\n18°C, fog"
    assert report.files[0].issues == ["calls.jsonl line 2: message 1: 'role' should be 'user' or 'assistant'"]
