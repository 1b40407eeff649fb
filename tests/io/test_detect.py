"""Format detection: the content decides; tables by extension; a clear error otherwise."""

from __future__ import annotations

import gzip
import json

import pytest
from io_data import fixture, shared

from kura.errors import InputError
from kura.io import FORMATS, detect_format, load_conversations
from kura.io.records import RECORD_FORMATS, TRACE_FORMATS


def test_format_names():
    assert list(FORMATS) == [
        "claude",
        "chatgpt",
        "sharegpt",
        "openai",
        "kura",
        "hh-rlhf",
        "langfuse",
        "langsmith",
        "otel",
        "openai-log",
        "anthropic-log",
        "csv",
        "parquet",
        "hf",
    ]
    assert all(isinstance(d, str) and d for d in FORMATS.values())


def test_real_samples_and_fixtures():
    assert detect_format(shared("oasst_en100.jsonl")) == "openai"
    assert detect_format(shared("clinc150.jsonl.gz")) == "openai"
    assert detect_format(shared("hh_rlhf_harmless_test.jsonl.gz")) == "hh-rlhf"
    assert detect_format(shared("chatgpt_export_real.json")) == "chatgpt"
    assert detect_format(shared("chatgpt_export_branched.json")) == "chatgpt"
    assert detect_format(fixture("claude_export.json")) == "claude"
    assert detect_format(fixture("claude_export_old.json")) == "claude"
    assert detect_format(fixture("sharegpt_oasst.json")) == "sharegpt"
    assert detect_format(fixture("sharegpt_oasst.jsonl")) == "sharegpt"
    assert detect_format(fixture("oasst_messages.csv")) == "csv"


PRODUCTION_LOGS = {
    "langfuse_trace_langgraph.json": "langfuse",
    "langfuse_traces.jsonl": "langfuse",
    "langsmith_runs.jsonl": "langsmith",
    "otel_genai_spans.jsonl": "otel",
    "openai_chat_log.jsonl": "openai-log",
    "anthropic_messages_log.jsonl": "anthropic-log",
}


@pytest.mark.parametrize("name, expected", PRODUCTION_LOGS.items())
def test_production_logs_are_told_apart(name, expected):
    assert detect_format(fixture(name)) == expected
    # Every record of each file matches its own format and no other: the record formats are tried
    # first, so a log must not look like one of them (a request log's messages sit in 'request').
    text = fixture(name).read_text()
    records = [json.loads(text)] if name.endswith(".json") else [json.loads(line) for line in text.splitlines()]
    for record in records:
        assert [n for n, m in {**RECORD_FORMATS, **TRACE_FORMATS}.items() if m.matches(record)] == [expected]


@pytest.mark.parametrize(
    "record, expected",
    [
        ({"chat_id": "a", "created_at": None, "messages": [], "metadata": {}}, "kura"),
        ({"id": "a", "messages": [{"role": "user", "content": "x"}]}, "openai"),
        ({"conversations": [{"from": "human", "value": "x"}]}, "sharegpt"),
        ({"chosen": "\n\nHuman: x\n\nAssistant: y", "rejected": "\n\nHuman: x\n\nAssistant: z"}, "hh-rlhf"),
        ({"uuid": "u", "chat_messages": []}, "claude"),
        ({"mapping": {}, "current_node": None}, "chatgpt"),
    ],
)
def test_content_decides_not_the_name(tmp_path, record, expected):
    # A misleading name, pretty-printed, and gzipped: still found from the first record.
    path = tmp_path / "export.txt"
    path.write_text(json.dumps([record], indent=2))
    assert detect_format(path) == expected
    gz = tmp_path / "data.jsonl.gz"
    gz.write_bytes(gzip.compress((json.dumps(record) + "\n").encode()))
    assert detect_format(gz) == expected


def test_single_pretty_printed_object(tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"id": "solo", "messages": [{"role": "user", "content": "hi"}]}, indent=2))
    assert detect_format(path) == "openai"
    (conversation,) = load_conversations(path)
    assert conversation.chat_id == "solo"


def test_unknown_content_lists_the_formats(tmp_path):
    path = tmp_path / "domains.json"
    path.write_text(json.dumps([{"domain": "banking", "intents": ["transfer"]}]))
    with pytest.raises(InputError) as info:
        detect_format(path)
    message = str(info.value)
    assert message.startswith(
        "domains.json: cannot tell the format: the first record has the keys 'domain', 'intents'."
    )
    assert "claude, chatgpt, sharegpt, openai, kura, hh-rlhf, langfuse, langsmith, otel" in message
    assert "--format" in message


def test_kura_checkpoints_are_named(tmp_path):
    path = tmp_path / "summaries.jsonl"
    path.write_text(json.dumps({"chat_id": "a", "summary": "s", "metadata": {}}) + "\n")
    with pytest.raises(InputError, match="a Kura summaries checkpoint: it holds summaries, not conversations"):
        detect_format(path)


def test_format_override(tmp_path):
    path = tmp_path / "chats.jsonl"
    path.write_text(json.dumps({"chat_id": "a", "messages": [{"role": "user", "content": "hi"}]}) + "\n")
    assert detect_format(path) == "kura"
    (conversation,) = load_conversations(path, format="openai")  # read as OpenAI messages instead
    assert conversation.metadata["source_format"] == "openai"
    with pytest.raises(InputError, match=r"format 'gpt' is unknown: use auto or one of claude, chatgpt"):
        load_conversations(path, format="gpt")
