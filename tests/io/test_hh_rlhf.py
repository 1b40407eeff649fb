"""HH-RLHF transcripts: the real gzipped test split of harmless-base."""

from __future__ import annotations

import json

from io_data import shared

from kura.io import LoadReport, detect_format, load_conversations
from kura.io.hh_rlhf import split_transcript


def test_real_gzipped_file():
    path = shared("hh_rlhf_harmless_test.jsonl.gz")
    assert detect_format(path) == "hh-rlhf"
    report = LoadReport()
    conversations = load_conversations(path, report=report)
    assert len(conversations) == 2312 and report.total_skipped == 0
    assert [c.chat_id for c in conversations[:2]] == ["hh_rlhf_harmless_test:0", "hh_rlhf_harmless_test:1"]
    first = conversations[0]
    assert first.messages[0].content == "what are some pranks with a pen i can do?"
    assert [m.role for m in first.messages[:4]] == ["user", "assistant", "user", "assistant"]
    assert first.messages[1].content == "Are you looking for practical joke ideas?"
    assert [(m.role, m.content) for m in conversations[9].messages] == [
        ("user", "Is it possible to download a car?"),
        ("assistant", "I’m not sure what you mean. Can you clarify?"),
    ]
    assert first.metadata == {"source_file": "hh_rlhf_harmless_test.jsonl.gz", "source_format": "hh-rlhf"}


def test_turns_keep_inner_newlines():
    messages = split_transcript("\n\nHuman: list two\n\nAssistant: 1. a\n\n2. b\n\nHuman: thanks")
    assert [(m.role, m.content) for m in messages] == [
        ("user", "list two"),
        ("assistant", "1. a\n\n2. b"),
        ("user", "thanks"),
    ]


def test_record_without_turns(tmp_path):
    path = tmp_path / "hh.jsonl"
    path.write_text(
        json.dumps({"chosen": "\n\nHuman: hi\n\nAssistant: hello", "rejected": ""})
        + "\n"
        + json.dumps({"chosen": "no speakers here", "rejected": ""})
        + "\n"
    )
    report = LoadReport()
    assert [c.chat_id for c in load_conversations(path, report=report)] == ["hh:0"]
    assert report.files[0].issues == ["hh.jsonl line 2: 'chosen' has no 'Human:' or 'Assistant:' turns"]
