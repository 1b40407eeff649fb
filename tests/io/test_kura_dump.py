"""Kura 0.5 dumps read back exactly, as a JSON array and as JSONL."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from kura.io import LoadReport, detect_format, load_conversations
from kura.types import Conversation, Message


def _conversations():
    return [
        Conversation(
            chat_id="kura-1",
            created_at=datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc),
            messages=[
                Message(
                    created_at=datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc),
                    role="user",
                    content="How do I reverse a list?",
                ),
                Message(
                    created_at=datetime(2024, 5, 1, 12, 1, tzinfo=timezone.utc),
                    role="assistant",
                    content="Use reversed(xs) or xs[::-1].",
                ),
            ],
            metadata={"source_file": "original.jsonl", "tags": ["python", "lists"], "score": 0.5},
        ),
        Conversation(chat_id="kura-2", messages=[Message(role="user", content="Hello")]),
    ]


def test_json_array_dump_round_trip(tmp_path):
    path = tmp_path / "dump.json"
    Conversation.generate_conversation_dump(_conversations(), str(path))
    assert detect_format(path) == "kura"
    assert Conversation.from_conversation_dump(path) == _conversations()


def test_jsonl_dump_round_trip(tmp_path):
    path = tmp_path / "conversations.jsonl"
    path.write_text("".join(c.model_dump_json() + "\n" for c in _conversations()))
    assert load_conversations(path) == _conversations()


def test_bad_dump_records(tmp_path):
    good = _conversations()[1].model_dump(mode="json")
    path = tmp_path / "dump.json"
    path.write_text(
        json.dumps(
            [
                good,
                {**good, "chat_id": "r", "messages": [{"role": "robot", "content": "beep"}]},
                {**good, "chat_id": "t", "created_at": "yesterday"},
                {**good, "chat_id": "e", "messages": []},
            ]
        )
    )
    report = LoadReport()
    assert [c.chat_id for c in load_conversations(path, format="kura", report=report)] == ["kura-2"]
    issues = report.files[0].issues
    assert issues[0].startswith(
        "dump.json [1]: messages.0.role: Input should be 'user', 'assistant', 'system' or 'tool'"
    )
    assert issues[1].startswith("dump.json [2]: created_at: Input should be a valid datetime")
    assert issues[2] == "dump.json [3]: no messages with text"
