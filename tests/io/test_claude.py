"""Claude.ai exports (fixtures written to the README's field list): new style and old style."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from io_data import fixture

from kura.errors import InputError
from kura.io import LoadReport, load_conversations
from kura.io.claude import load_claude_export
from kura.types import Conversation


def test_new_style_export():
    report = LoadReport()
    first, second = load_conversations(fixture("claude_export.json"), report=report)

    assert first.chat_id == "5b8e3f2a-91c4-4d6e-a7f0-2c3d4e5f6a7b"
    assert first.created_at == datetime(2025, 3, 14, 9, 12, 5, 113254, tzinfo=timezone.utc)
    assert first.metadata == {
        "source_file": "claude_export.json",
        "source_format": "claude",
        "title": "Parse CSV timestamps in pandas",
        "claude_summary": "The user asked how to parse mixed-format timestamps in a CSV with pandas.",
        "updated_at": "2025-03-14T09:20:41.902117+00:00",
        "user_id": "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5",
    }
    assert [m.role for m in first.messages] == ["user", "assistant", "tool", "assistant", "user", "assistant"]
    question, answer, tool, follow_up, user2, last = first.messages
    # The attachment's text follows the question, behind a marker; the same file in 'files' is not repeated.
    assert question.content == (
        "My CSV has timestamps like 2024-01-05 and 05/01/2024 in the same column. How do I parse them with pandas?"
        "\n\n[attachment: orders_sample.csv]\norder_id,ts\n1,2024-01-05\n2,05/01/2024\n3,2024-02-11 10:30"
    )
    # Thinking is left out; the artifact call stays with the text it followed.
    assert "format='mixed' in pandas 2 handles this" not in answer.content
    assert answer.content.startswith('Use `pd.to_datetime` with `format="mixed"`')
    assert (
        "\n\n[tool call: artifacts]\ntype: application/vnd.ant.code\ntitle: Parse mixed timestamps\ncommand: create\n"
        in answer.content
    )
    assert 'df["ts"] = pd.to_datetime(df["ts"], format="mixed", dayfirst=True)' in answer.content
    assert "version_uuid" not in answer.content
    assert tool.content == "[tool result: artifacts]\nOK"
    assert follow_up.content == "With `dayfirst=True`, `05/01/2024` becomes 5 January 2024."
    # The export lists the last answer before the question it answers: sorted by created_at.
    assert user2.content == "What if some rows also have a timezone offset like +02:00?"
    assert last.content.startswith("Then pass `utc=True`")
    assert [m.created_at for m in first.messages] == sorted(m.created_at for m in first.messages)

    assert second.metadata["title"] == "Weather in Lisbon this weekend" and "claude_summary" not in second.metadata
    assert [(m.role, m.content) for m in second.messages] == [
        ("user", "Will it rain in Lisbon this weekend?\n\n[file: IMG_2041.jpeg]"),
        ("assistant", "[tool call: web_search]\nquery: Lisbon weather forecast weekend"),
        ("tool", "[tool result: web_search]\nSaturday: showers, 70% chance of rain. Sunday: sunny, 19 C."),
        ("assistant", "Probably on Saturday (showers, about a 70% chance); Sunday looks sunny at around 19 C."),
    ]
    # The empty conversation is skipped, with the reason.
    assert report.files[0].skipped == 1
    assert report.files[0].issues == ["claude_export.json [2]: no messages with text (the conversation is empty)"]


def test_old_style_export_has_only_text():
    haiku, notes = load_conversations(fixture("claude_export_old.json"))
    assert [(m.role, m.content) for m in haiku.messages] == [
        ("user", "Write a haiku about autumn leaves."),
        ("assistant", "Red leaves let go now\ndrifting on the cooling wind\nthe branch holds the sky"),
    ]
    assert notes.messages[0].content == (
        "Summarise these notes in three bullet points.\n\n[attachment: standup.txt]\n"
        "Ana: API migration done. Ben: blocked on review. Cy: release Friday."
    )
    assert notes.created_at == datetime(2024, 2, 21, 10, 15, tzinfo=timezone.utc)


def test_kura05_entry_points_with_metadata_fn():
    def metadata_fn(record):
        return {"message_count": len(record["chat_messages"]), "project": "demo"}

    conversations = Conversation.from_claude_conversation_dump(
        fixture("claude_export_old.json"), metadata_fn=metadata_fn
    )
    assert [c.metadata["message_count"] for c in conversations] == [2, 2]
    assert conversations[0].metadata["project"] == "demo" and conversations[0].metadata["title"] == "Haiku about autumn"
    assert [c.chat_id for c in load_claude_export(fixture("claude_export.json"))] == [
        "5b8e3f2a-91c4-4d6e-a7f0-2c3d4e5f6a7b",
        "9e7d6c5b-4a39-4281-b7c6-d5e4f3a2b1c0",
    ]


def test_unknown_sender_is_reported(tmp_path):
    path = tmp_path / "conversations.json"
    path.write_text('[{"uuid": "x", "chat_messages": [{"sender": "robot", "text": "beep"}]}]')
    report = LoadReport()
    with pytest.raises(InputError, match=r"no conversation could be read: the 1 record was skipped; the first: "):
        load_conversations(path, report=report)  # nothing usable: an error, and the report says why
    assert report.files[0].issues[0].startswith("conversations.json [0]: message 1 'sender': unknown role 'robot'")
