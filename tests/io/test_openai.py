"""OpenAI-style messages: the uniform JSONL of the test data, content parts, tool calls, roles."""

from __future__ import annotations

import json
from itertools import islice

from io_data import shared
from kura_testdata import clinc_lines

from kura.io import LoadReport, iter_conversations, load_conversations


def test_oasst_real_sample():
    report = LoadReport()
    conversations = load_conversations(shared("oasst_en100.jsonl"), report=report)
    assert len(conversations) == 100 and report.summary_lines() == ["oasst_en100.jsonl: 100 conversations (openai)"]
    first = conversations[0]
    assert first.chat_id == "oasst-054e1df3-35e0-4bb8-a585-607dbdcd24e0"
    assert [m.role for m in first.messages] == ["user", "assistant"]
    assert first.messages[0].content == "How can I find the best 401k plan for my needs?"
    assert first.messages[1].content.startswith("The first step is to research your options.")
    assert first.metadata == {"source_file": "oasst_en100.jsonl", "source_format": "openai"}  # label null: not kept
    assert sum(len(c.messages) for c in conversations) == 323
    assert conversations[-1].chat_id == "oasst-65e4ec48-2687-472e-b985-79443e3d454b"


def test_clinc_slice_keeps_the_label(tmp_path):
    # The real file has 22,500 lines: a slice of it keeps the test fast.
    head = list(islice(clinc_lines(), 300))
    path = tmp_path / "clinc150_head.jsonl"
    path.write_text("".join(head))
    conversations = load_conversations(path)
    assert [c.chat_id for c in conversations[:2]] == ["clinc150-train-0", "clinc150-train-1"]
    assert conversations[0].messages[0].content == "what expression would i use to say i love you if i were an italian"
    assert conversations[0].metadata["label"] == "translate"
    assert len(conversations) == 300 and all(
        len(c.messages) == 1 and c.messages[0].role == "user" for c in conversations
    )
    labels = {json.loads(line)["label"] for line in head}
    assert {c.metadata["label"] for c in conversations} == labels


def test_the_first_clinc_conversations_stream_from_the_whole_file():
    first = list(islice(iter_conversations(shared("clinc150.jsonl.gz")), 3))
    assert [c.chat_id for c in first] == ["clinc150-train-0", "clinc150-train-1", "clinc150-train-2"]


def test_content_parts_tool_calls_and_roles(tmp_path):
    record = {
        "conversation_id": "conv-7",
        "created": 1714560000,
        "user": "u-42",
        "messages": [
            {"role": "developer", "content": "Answer in French."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What does this sign say?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "ocr", "arguments": '{"image": 1}'}},
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "DEFENSE DE FUMER"},
            {"role": "function", "name": "translate", "content": "no smoking"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "Il est interdit de fumer."}]},
            {"role": "assistant", "content": ""},
        ],
    }
    path = tmp_path / "chats.jsonl"
    path.write_text(json.dumps(record) + "\n")
    (conversation,) = load_conversations(path)
    assert conversation.chat_id == "conv-7"
    assert conversation.created_at is not None and conversation.created_at.year == 2024
    assert conversation.metadata["user"] == "u-42"
    assert [(m.role, m.content) for m in conversation.messages] == [
        ("system", "Answer in French."),
        ("user", "What does this sign say?\n[image]"),
        ("assistant", '[tool call: ocr]\n{"image": 1}'),
        ("tool", "DEFENSE DE FUMER"),
        ("tool", "no smoking"),
        ("assistant", "Il est interdit de fumer."),
    ]


def test_malformed_lines_are_skipped_with_line_numbers(tmp_path):
    good = json.dumps({"id": "a", "messages": [{"role": "user", "content": "hi"}]})
    path = tmp_path / "bad.jsonl"
    path.write_text(
        "\n".join(
            [
                good,
                json.dumps({"id": "b", "messages": [{"role": "user", "content": "still fine"}]}),
                json.dumps({"id": "c"}),
                "",
                '{"id": "d", "messages": [',
                json.dumps({"id": "e", "messages": "hello"}),
                json.dumps({"id": "f", "messages": [{"content": "who?"}]}),
                json.dumps({"id": "g", "messages": [{"role": "user", "content": 5}]}),
                json.dumps(["not", "an", "object"]),
                json.dumps({"id": "h", "messages": [{"role": "user", "content": "last one"}]}),
            ]
        )
        + "\n"
    )
    report = LoadReport()
    conversations = load_conversations(path, report=report)
    assert [c.chat_id for c in conversations] == ["a", "b", "h"]
    assert report.files[0].issues == [
        "bad.jsonl line 3: 'messages' is missing",
        "bad.jsonl line 5: not valid JSON: Expecting value at column 26 (the line looks cut off)",
        "bad.jsonl line 6: 'messages' should be a list, found a string",
        "bad.jsonl line 7: message 1: 'role' is missing",
        "bad.jsonl line 8: message 1: 'content' should be a string or a list of parts",
        "bad.jsonl line 9: expected a JSON object, found a list",
    ]
    assert report.summary_lines()[0] == "bad.jsonl: 3 conversations (openai), 6 skipped"
