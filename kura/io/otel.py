"""OpenTelemetry GenAI spans in OTLP JSON (``{"resourceSpans": [{"resource", "scopeSpans": [{"spans"}]}]}``).

What the OTLP file exporter and collector write (one export request per line, or one object per
file). Each span with chat content is a model call; its messages are read from, in order of
preference:

- ``gen_ai.system_instructions`` + ``gen_ai.input.messages`` / ``gen_ai.output.messages`` (current
  conventions: ``{role, parts: [{type: text, content}...]}`` as JSON text);
- ``gen_ai.prompt`` / ``gen_ai.completion`` (older: JSON text of messages, or plain text) and their
  indexed form ``gen_ai.prompt.0.role`` / ``gen_ai.prompt.0.content`` (OpenLLMetry);
- span events ``gen_ai.system.message``, ``gen_ai.user.message``, ``gen_ai.assistant.message``,
  ``gen_ai.tool.message`` and ``gen_ai.choice`` (each message at its event's time), and
  ``gen_ai.content.prompt`` / ``gen_ai.content.completion``.

Conversations are grouped by ``gen_ai.conversation.id`` when a span (or its resource) has one,
otherwise by trace id; spans are merged in time order (see ``kura.io.traces``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from kura.io.base import Item, Problem, RecordError, Source, mapping
from kura.io.chat_values import messages_from
from kura.io.traces import Step, read_step_records, read_steps, whole
from kura.types.conversation import Message, Role

NAME = "otel"
DESCRIPTION = "OpenTelemetry GenAI spans, OTLP JSON (resourceSpans); gen_ai.* attributes and events"

_INDEXED = re.compile(r"^gen_ai\.(prompt|completion)\.(\d+)\.(role|content)$")
_EVENT_ROLES: dict[str, Role] = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
_ERROR_STATUS = (2, "2", "STATUS_CODE_ERROR")


def matches(record: dict) -> bool:
    return isinstance(record.get("resourceSpans"), list)


def read(source: Source) -> Iterator[Item]:
    return read_steps(source, record_steps)


def read_records(source: Source, records: Any) -> Iterator[Item]:
    return read_step_records(source, records, record_steps)


def record_steps(record: dict, location: str) -> Iterator[Step | Problem]:
    """The model calls of one export request; a span that cannot be read costs only itself."""
    number_ = 0
    for resource_spans in record.get("resourceSpans") or []:
        if not isinstance(resource_spans, dict):
            continue
        resource = attributes((resource_spans.get("resource") or {}).get("attributes"))
        for scope_spans in resource_spans.get("scopeSpans") or resource_spans.get("instrumentationLibrarySpans") or []:
            for span in (scope_spans or {}).get("spans") or []:
                number_ += 1
                where = f"{location} span {number_}"
                try:
                    step = _span_step(span, resource, where)
                except RecordError as exc:
                    yield Problem(where, str(exc))
                    continue
                if step is not None:
                    yield step


def _span_step(span: Any, resource: dict[str, Any], location: str) -> Step | None:
    if not isinstance(span, dict):
        raise RecordError("the span is not an object")
    attrs = attributes(span.get("attributes"))
    events = [e for e in span.get("events") or [] if isinstance(e, dict)]
    inputs, outputs = _span_messages(attrs, events)
    if not inputs and not outputs:
        return None  # not a model call with content (an HTTP span, a tool run, content capture off)
    trace_id = _id(span.get("traceId"))
    if not trace_id:
        raise RecordError("the span has no 'traceId'")
    key = attrs.get("gen_ai.conversation.id") or resource.get("gen_ai.conversation.id") or trace_id
    status = mapping(span.get("status"))
    error = (status.get("message") or "error") if status.get("code") in _ERROR_STATUS else None
    return Step(
        key=str(key),
        location=location,
        trace_id=trace_id,
        start=_nanos(span.get("startTimeUnixNano")),
        end=_nanos(span.get("endTimeUnixNano")),
        inputs=inputs,
        outputs=outputs,
        model=attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model"),
        input_tokens=whole(attrs.get("gen_ai.usage.input_tokens", attrs.get("gen_ai.usage.prompt_tokens"))),
        output_tokens=whole(attrs.get("gen_ai.usage.output_tokens", attrs.get("gen_ai.usage.completion_tokens"))),
        metadata={
            "provider": attrs.get("gen_ai.provider.name") or attrs.get("gen_ai.system"),
            "operation": attrs.get("gen_ai.operation.name"),
            "agent_name": attrs.get("gen_ai.agent.name"),
            "service_name": resource.get("service.name"),
            "conversation_id": attrs.get("gen_ai.conversation.id") or resource.get("gen_ai.conversation.id"),
            "error": error,
        },
    )


def _span_messages(attrs: dict[str, Any], events: list[dict]) -> tuple[list[Message], list[Message]]:
    if "gen_ai.input.messages" in attrs or "gen_ai.output.messages" in attrs:
        inputs = messages_from(attrs.get("gen_ai.system_instructions"), "system")
        inputs += messages_from(attrs.get("gen_ai.input.messages"), "user")
        return inputs, messages_from(attrs.get("gen_ai.output.messages"), "assistant")
    if "gen_ai.prompt" in attrs or "gen_ai.completion" in attrs:
        return messages_from(attrs.get("gen_ai.prompt"), "user"), messages_from(
            attrs.get("gen_ai.completion"), "assistant"
        )
    indexed = _indexed(attrs)
    if indexed[0] or indexed[1]:
        return indexed
    return _event_messages(events)


def _indexed(attrs: dict[str, Any]) -> tuple[list[Message], list[Message]]:
    """``gen_ai.prompt.0.role`` / ``gen_ai.prompt.0.content`` ... in index order."""
    turns: dict[tuple[str, int], dict[str, Any]] = {}
    for key, value in attrs.items():
        found = _INDEXED.match(key)
        if found:
            turns.setdefault((found[1], int(found[2])), {})[found[3]] = value
    out: dict[str, list[Message]] = {"prompt": [], "completion": []}
    for (side, _), turn in sorted(turns.items()):
        default: Role = "user" if side == "prompt" else "assistant"
        out[side] += messages_from({"role": turn.get("role") or default, "content": turn.get("content")}, default)
    return out["prompt"], out["completion"]


def _event_messages(events: list[dict]) -> tuple[list[Message], list[Message]]:
    inputs: list[Message] = []
    outputs: list[Message] = []
    for event in events:
        name = event.get("name")
        attrs = attributes(event.get("attributes"))
        body = event.get("body")
        at = _nanos(event.get("timeUnixNano"))
        if name in _EVENT_ROLES:
            value = attrs.get("gen_ai.event.content") or attrs.get("content") or body
            role = _EVENT_ROLES[str(name)]
            inputs += messages_from(value if not isinstance(value, dict) else {"role": role, **value}, role, at)
        elif name == "gen_ai.choice":
            value = attrs.get("message") or attrs.get("gen_ai.event.content") or attrs.get("content") or body
            outputs += messages_from(value, "assistant", at)
        elif name == "gen_ai.content.prompt":
            inputs += messages_from(attrs.get("gen_ai.prompt"), "user", at)
        elif name == "gen_ai.content.completion":
            outputs += messages_from(attrs.get("gen_ai.completion"), "assistant", at)
    return inputs, outputs


def attributes(raw: Any) -> dict[str, Any]:
    """OTLP ``[{key, value: {stringValue...}}]`` as a plain dict (a dict is taken as it is)."""
    if isinstance(raw, dict):
        return raw
    out: dict[str, Any] = {}
    for item in raw or []:
        if isinstance(item, dict) and isinstance(item.get("key"), str):
            out[item["key"]] = any_value(item.get("value"))
    return out


def any_value(value: Any) -> Any:
    """The value of an OTLP ``AnyValue``."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        return whole(value["intValue"])
    if "doubleValue" in value:
        return value["doubleValue"]
    if "boolValue" in value:
        return value["boolValue"]
    if "arrayValue" in value:
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in value:
        return attributes((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        return f"[{len(base64.b64decode(value['bytesValue'] or ''))} bytes]"
    return None


def _id(value: Any) -> str:
    return str(value).strip() if value not in (None, "") else ""


def _nanos(value: Any) -> datetime | None:
    nanos = whole(value)
    if not nanos:
        return None
    return datetime.fromtimestamp(nanos / 1e9, tz=timezone.utc)
