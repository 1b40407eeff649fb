"""ShareGPT in both layouts, with every speaker name found in ShareGPT-style datasets."""

from __future__ import annotations

import json

import pytest
from io_data import fixture, shared

from kura.io import LoadReport, load_conversations
from kura.io.base import ROLE_ALIASES


@pytest.mark.parametrize("name", ["sharegpt_oasst.json", "sharegpt_oasst.jsonl"])
def test_array_and_lines_give_the_same_conversations(name):
    conversations = load_conversations(fixture(name))
    assert len(conversations) == 8
    oasst = [json.loads(line) for line in shared("oasst_en100.jsonl").read_text().splitlines()[:6]]
    for conversation, original in zip(conversations, oasst):
        assert conversation.chat_id == original["id"].replace("oasst-", "sharegpt-")
        body = [(m.role, m.content) for m in conversation.messages if m.role != "system"]
        assert body == [(m["role"], m["content"]) for m in original["messages"]]
        assert conversation.metadata == {"source_file": name, "source_format": "sharegpt", "model": "oasst"}
    assert (conversations[0].messages[0].role, conversations[0].messages[0].content) == (
        "system",
        "You are a helpful assistant.",
    )


def test_tool_turns():
    conversations = load_conversations(fixture("sharegpt_oasst.json"))
    calculator, converter = conversations[6:]
    assert [m.role for m in calculator.messages] == ["user", "assistant", "tool", "assistant"]
    assert calculator.messages[1].content.startswith('{"name": "calculator"')
    assert [m.role for m in converter.messages] == ["user", "tool", "tool", "assistant"]


@pytest.mark.parametrize(
    "speaker, role",
    [
        ("human", "user"),
        ("user", "user"),
        ("Human", "user"),
        ("gpt", "assistant"),
        ("chatgpt", "assistant"),
        ("bing", "assistant"),
        ("bard", "assistant"),
        ("assistant", "assistant"),
        ("model", "assistant"),
        ("system", "system"),
        ("tool", "tool"),
        ("function", "tool"),
        ("observation", "tool"),
        ("function_call", "assistant"),
    ],
)
def test_speaker_names(tmp_path, speaker, role):
    assert ROLE_ALIASES[speaker.lower()] == role
    path = tmp_path / "chats.jsonl"
    path.write_text(json.dumps({"conversations": [{"from": speaker, "value": "hello"}]}) + "\n")
    (conversation,) = load_conversations(path)
    assert conversation.messages[0].role == role
    assert conversation.chat_id == "chats:0"  # no id in the record: file stem and index


def test_bad_turns_are_reported_with_their_position(tmp_path):
    path = tmp_path / "chats.json"
    path.write_text(
        json.dumps(
            [
                {"id": "ok", "conversations": [{"from": "human", "value": "hi"}]},
                {"id": "bad-from", "conversations": [{"from": "narrator", "value": "once upon a time"}]},
                {"id": "no-from", "conversations": [{"value": "hi"}]},
                {"id": "empty", "conversations": [{"from": "human", "value": "  "}]},
            ]
        )
    )
    report = LoadReport()
    assert [c.chat_id for c in load_conversations(path, report=report)] == ["ok"]
    assert report.files[0].issues == [
        "chats.json [1]: turn 1 'from': unknown role 'narrator' (known: user, assistant, system, tool and their usual aliases)",
        "chats.json [2]: turn 1: 'from' is missing",
        "chats.json [3]: no turns with text",
    ]


def test_turns_with_openai_names_inside(tmp_path):
    path = tmp_path / "chats.jsonl"
    path.write_text(
        json.dumps(
            {"id": "x", "conversations": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
        )
        + "\n"
    )
    (conversation,) = load_conversations(path)
    assert conversation.metadata["source_format"] == "sharegpt"
    assert [(m.role, m.content) for m in conversation.messages] == [("user", "hi"), ("assistant", "hello")]
