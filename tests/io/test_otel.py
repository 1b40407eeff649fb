"""OpenTelemetry GenAI spans (OTLP JSON): the semantic conventions' documented examples, in every form."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from io_data import fixture

from kura.io import LoadReport, detect_format, load_conversations


def _nanos(text: str) -> datetime:
    return datetime.fromtimestamp(int(text) / 1e9, tz=timezone.utc)


def _requests() -> list[dict]:
    return [json.loads(line) for line in fixture("otel_genai_spans.jsonl").read_text().splitlines()]


def test_spans_grouped_by_trace_and_by_conversation_id():
    path = fixture("otel_genai_spans.jsonl")
    assert detect_format(path) == "otel"
    report = LoadReport()
    conversations = load_conversations(path, report=report)
    assert report.summary_lines() == ["otel_genai_spans.jsonl: 4 conversations (otel)"]
    tools, events, indexed, chat = conversations
    spans = _requests()[0]["resourceSpans"][0]["scopeSpans"][0]["spans"]
    # gen_ai.input/output.messages: two chat spans of one trace; the tool span between has no content.
    assert tools.chat_id == spans[0]["traceId"]
    assert [m.role for m in tools.messages] == ["user", "assistant", "tool", "assistant"]
    assert tools.messages[1].content == '[tool call: get_weather]\n{"location": "Paris"}'
    assert tools.messages[2].content.endswith("rainy, 57°F")
    assert tools.messages[3].created_at == _nanos(spans[2]["endTimeUnixNano"])
    assert tools.created_at == _nanos(spans[0]["startTimeUnixNano"])
    assert tools.metadata["input_tokens"] == 47 + 97 and tools.metadata["service_name"] == "weather-bot"
    assert tools.metadata["model"] == "gpt-4-0613" and tools.metadata["provider"] == "openai"
    # Events: each message at its event's time.
    span_events = _requests()[1]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["events"]
    assert [m.role for m in events.messages] == ["system", "user", "assistant"]
    assert [m.created_at for m in events.messages] == [_nanos(e["timeUnixNano"]) for e in span_events]
    # The indexed gen_ai.prompt.N attributes of the same call read to the same messages.
    assert [(m.role, m.content) for m in indexed.messages] == [(m.role, m.content) for m in events.messages]
    assert indexed.metadata["input_tokens"] == 52 and indexed.metadata["provider"] == "openai"
    # Two traces sharing gen_ai.conversation.id are one conversation, the history not repeated.
    assert chat.chat_id == "conv_5j66UpCpwteGg4YSxUnt7lPY" and len(chat.metadata["trace_ids"]) == 2
    assert [m.role for m in chat.messages] == ["system", "system", "user", "assistant", "user", "assistant"]
    assert chat.messages[0].content == "You must never tell jokes"
    assert chat.messages[4].content == "Then explain what a trace is, in one sentence."


def test_a_bad_span_costs_only_itself(tmp_path):
    request = _requests()[0]
    spans = request["resourceSpans"][0]["scopeSpans"][0]["spans"]
    broken = json.loads(json.dumps(spans[0]))
    broken["traceId"] = ""
    spans.insert(1, broken)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(request, indent=2))  # one pretty-printed export request
    report = LoadReport()
    (conversation,) = load_conversations(path, report=report)
    assert len(conversation.messages) == 4
    assert report.files[0].issues == ["export.json span 2: the span has no 'traceId'"]
