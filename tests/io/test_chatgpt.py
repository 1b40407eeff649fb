"""ChatGPT exports: the branch that was shown, code-interpreter turns, hidden and empty messages."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

from io_data import shared

from kura.io import LoadReport, load_conversations


def test_branched_export_gives_exactly_the_path_to_current_node():
    (conversation,) = load_conversations(shared("chatgpt_export_branched.json"))
    assert conversation.chat_id == "conv-123"
    assert [(m.role, m.content) for m in conversation.messages] == [
        ("user", "Hello! Can you help me with a programming question?"),
        ("assistant", "Of course! I'd be happy to help with your programming question. What would you like to know?"),
        ("user", "How do I write a function in JavaScript?"),
        ("assistant", conversation.messages[3].content),
    ]
    assert conversation.messages[3].content.startswith("Here's how to write a function in JavaScript:\n\n```javascript")
    # msg-5, the edited-away sibling, and the empty system message are not there.
    assert all("Python instead" not in m.content for m in conversation.messages)
    assert conversation.created_at == datetime(2024, 1, 1, tzinfo=timezone.utc)
    assert conversation.messages[1].created_at == datetime.fromtimestamp(1704067350, tz=timezone.utc)
    assert conversation.metadata == {
        "source_file": "chatgpt_export_branched.json",
        "source_format": "chatgpt",
        "title": "Sample conversation with branch",
        "updated_at": "2024-01-01T00:05:00+00:00",
        "model": "gpt-4",
    }


def test_real_export_with_code_interpreter():
    report = LoadReport()
    (conversation,) = load_conversations(shared("chatgpt_export_real.json"), report=report)
    assert conversation.chat_id == "966da5c4-5bb7-4e4d-ab6d-a7316b96266e"
    assert conversation.metadata["title"] == "Average Distance in U(0,1)"
    assert conversation.metadata["model"] == "gpt-4-code-interpreter"  # default_model_slug is null: per-message slug
    # 44 message nodes: 2 hidden system messages dropped; 8 user, 12 answers + 11 code cells, 11 outputs.
    assert len(conversation.messages) == 42
    assert Counter(m.role for m in conversation.messages) == {"user": 8, "assistant": 23, "tool": 11}
    first, answer, code, output = conversation.messages[:4]
    assert first.role == "user" and first.content.startswith("given two random independent variables x,y in U(0,1)")
    assert answer.role == "assistant" and answer.content.startswith("To find the average distance")
    assert code.role == "assistant"
    assert code.content.startswith("```python\nfrom sympy import symbols, integrate, Abs\n\nx, y = symbols('x y')")
    assert code.content.endswith("\nintegral\n```") and "\r" not in code.content
    assert (output.role, output.content) == ("tool", "0")
    assert conversation.messages[-1].content.startswith("Here's the updated graph with the mean split frequency")
    assert report.files[0].loaded == 1 and report.total_skipped == 0


def _node(node_id, parent, children, role=None, content=None, **metadata):
    message = None
    if role is not None:
        message = {
            "id": node_id,
            "author": {"role": role, "name": None},
            "create_time": 1700000000.5,
            "content": content,
            "metadata": metadata,
            "recipient": "all",
        }
    return {"id": node_id, "parent": parent, "children": children, "message": message}


def _export(tmp_path, mapping, **fields):
    record = {
        "title": "t",
        "create_time": 1700000000.0,
        "update_time": None,
        "mapping": mapping,
        "conversation_id": "c1",
        "default_model_slug": None,
        **fields,
    }
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps([record]))
    return path


def test_multimodal_hidden_reasoning_and_tool_messages(tmp_path):
    mapping = {
        "r": _node("r", None, ["s"]),
        "s": _node("s", "r", ["u"], "system", {"content_type": "text", "parts": ["Be brief."]}),
        "u": _node(
            "u",
            "s",
            ["h"],
            "user",
            {
                "content_type": "multimodal_text",
                "parts": [
                    {"content_type": "image_asset_pointer", "asset_pointer": "file-service://file-abc", "width": 640},
                    "What is in this picture?",
                ],
            },
        ),
        "h": _node(
            "h",
            "u",
            ["t"],
            "user",
            {"content_type": "text", "parts": ["hidden context"]},
            is_visually_hidden_from_conversation=True,
        ),
        "t": _node(
            "t", "h", ["b"], "assistant", {"content_type": "thoughts", "thoughts": [{"summary": "s", "content": "c"}]}
        ),
        "b": _node("b", "t", ["a"], "tool", {"content_type": "text", "parts": ["search results: a cat"]}),
        "a": _node(
            "a", "b", [], "assistant", {"content_type": "text", "parts": ["A cat on a sofa."]}, model_slug="gpt-4o"
        ),
    }
    (conversation,) = load_conversations(_export(tmp_path, mapping, current_node="a"))
    assert [(m.role, m.content) for m in conversation.messages] == [
        ("system", "Be brief."),
        ("user", "[image]\nWhat is in this picture?"),
        ("tool", "search results: a cat"),
        ("assistant", "A cat on a sofa."),
    ]
    assert conversation.metadata["model"] == "gpt-4o"


def test_without_current_node_the_newest_branch_is_followed(tmp_path):
    mapping = {
        "r": _node("r", None, ["u"]),
        "u": _node("u", "r", ["old", "new"], "user", {"content_type": "text", "parts": ["hi"]}),
        "old": _node("old", "u", [], "assistant", {"content_type": "text", "parts": ["first answer"]}),
        "new": _node("new", "u", [], "assistant", {"content_type": "text", "parts": ["regenerated answer"]}),
    }
    (conversation,) = load_conversations(_export(tmp_path, mapping))
    assert [m.content for m in conversation.messages] == ["hi", "regenerated answer"]


def test_broken_trees_are_reported(tmp_path):
    mapping = {"r": _node("r", None, [])}
    report = LoadReport()
    path = tmp_path / "conversations.json"
    path.write_text(
        json.dumps(
            [
                {"conversation_id": "a", "mapping": mapping, "current_node": "missing"},
                {"conversation_id": "b", "mapping": mapping, "current_node": "r"},
                {
                    "conversation_id": "c",
                    "mapping": {
                        "r": _node("r", None, ["u"]),
                        "u": _node("u", "r", [], "user", {"content_type": "text", "parts": ["ok"]}),
                    },
                    "current_node": "u",
                },
            ]
        )
    )
    conversations = load_conversations(path, report=report)
    assert [c.chat_id for c in conversations] == ["c"]
    assert report.files[0].issues == [
        "conversations.json [0]: 'current_node' 'missing' is not in 'mapping'",
        "conversations.json [1]: no visible messages with text on the path to 'current_node'",
    ]
