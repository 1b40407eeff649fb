"""Langfuse trace exports: traces with their observations (generations, spans, events) and scores.

Read in the layouts Langfuse hands out, as one JSON object, a JSON array or JSON Lines:

- the trace download of the UI: ``{"trace": {...}, "observations": [...]}``;
- traces of the public API (``GET /api/public/traces/{id}``: observations and scores inside), or
  a page of them (``{"data": [...], "meta": {...}}``), or the trace table's JSON export;
- observations on their own (``GET /api/public/observations``), each naming its ``traceId``.

One conversation per session: traces that share a ``sessionId`` are the turns of one chat (what
Langfuse shows as a session), so they become one conversation with the session id as its chat id;
a trace without a session is a conversation of its own (chat id: the trace id). The messages come
from the trace's generations (their ``input``, in OpenAI chat form, and ``output``), merged in time
order (see ``kura.io.traces``); only when no generation holds a chat message are the trace's own
``input`` and ``output`` used.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from kura.io.base import Item, Problem, RecordError, Source
from kura.io.chat_values import messages_from
from kura.io.traces import Step, number, read_step_records, read_steps, utc_time, whole

NAME = "langfuse"
DESCRIPTION = "Langfuse trace export (UI download, API or JSONL): traces with observations and scores"

# Fields of an observation Langfuse writes, some of them different across versions.
_INPUT_TOKENS = ("input", "promptTokens")
_OUTPUT_TOKENS = ("output", "completionTokens")
# Trace metadata Langfuse's OpenTelemetry ingestion adds: about the SDK, not the conversation.
_SDK_METADATA = {"resourceAttributes", "scope", "attributes"}


def matches(record: dict) -> bool:
    if isinstance(record.get("trace"), dict) and isinstance(record.get("observations"), list):
        return True
    data = record.get("data")
    if isinstance(data, list) and isinstance(record.get("meta"), dict):
        return bool(data) and isinstance(data[0], dict) and (_is_trace(data[0]) or _is_observation(data[0]))
    return _is_trace(record) or _is_observation(record)


def _is_trace(record: dict) -> bool:
    return "id" in record and "timestamp" in record and any(k in record for k in ("sessionId", "htmlPath", "projectId"))


def _is_observation(record: dict) -> bool:
    return "traceId" in record and "startTime" in record and "type" in record


def read(source: Source) -> Iterator[Item]:
    return read_steps(source, record_steps)


def read_records(source: Source, records: Any) -> Iterator[Item]:
    return read_step_records(source, records, record_steps)


def record_steps(record: dict, location: str) -> Iterator[Step | Problem]:
    """The steps of one record: a trace download, an API trace or page of traces, or an observation."""
    if isinstance(record.get("trace"), dict):
        yield from _trace_steps(record["trace"], record.get("observations") or [], location)
    elif isinstance(record.get("data"), list):
        # A page of the API: each trace costs only itself when it cannot be read.
        for number_, item in enumerate(record["data"]):
            where = f"{location} data[{number_}]"
            try:
                yield from list(_item_steps(item, where))
            except RecordError as exc:
                yield Problem(where, str(exc))
    else:
        yield from _item_steps(record, location)


def _item_steps(item: Any, location: str) -> Iterator[Step | Problem]:
    if not isinstance(item, dict):
        raise RecordError("expected a trace or observation object")
    if _is_observation(item) and not _is_trace(item):
        step = _observation_step(item, location, None)
        if step is not None:
            yield step
    else:
        yield from _trace_steps(item, item.get("observations") or [], location)


def _trace_steps(trace: dict, observations: list, location: str) -> Iterator[Step | Problem]:
    trace_id = trace.get("id")
    if trace_id in (None, ""):
        raise RecordError("the trace has no 'id'")
    trace_id = str(trace_id)
    key = str(trace.get("sessionId") or trace_id)
    start = utc_time(trace.get("timestamp"))
    latency = number(trace.get("latency"))  # seconds, for a trace
    end = start + timedelta(seconds=latency) if start is not None and latency is not None else None
    yield Step(
        key=key,
        location=location,
        trace_id=trace_id,
        start=start,
        end=end,
        fallback=messages_from(trace.get("input"), "user", start)
        + messages_from(trace.get("output"), "assistant", end),
        scores=_scores(trace.get("scores")),
        metadata={
            "session_id": trace.get("sessionId"),
            "user_id": trace.get("userId"),
            "trace_name": trace.get("name"),
            "tags": [tag for tag in trace.get("tags") or [] if isinstance(tag, str)],
            "release": trace.get("release"),
            "version": trace.get("version"),
            "environment": trace.get("environment"),
            "trace_metadata": _user_metadata(trace.get("metadata")),
        },
    )
    for number_, observation in enumerate(observations):
        if not isinstance(observation, dict):
            continue  # the API's trace list gives observation ids only
        step = _observation_step(observation, f"{location} observation {number_ + 1}", key)
        if step is not None:
            yield step


def _observation_step(observation: dict, location: str, key: str | None) -> Step | None:
    """A generation as a step; other observations (spans, events, tools) carry no chat turn."""
    if str(observation.get("type", "")).upper() != "GENERATION":
        return None
    trace_id = observation.get("traceId")
    if key is None and trace_id in (None, ""):
        raise RecordError("the observation has no 'traceId'")
    start = utc_time(observation.get("startTime"))
    end = utc_time(observation.get("endTime")) or utc_time(observation.get("completionStartTime"))
    usage = observation.get("usageDetails") or observation.get("usage") or {}
    error = observation.get("statusMessage") if str(observation.get("level", "")).upper() == "ERROR" else None
    return Step(
        key=key or str(trace_id),
        location=location,
        trace_id=str(trace_id) if trace_id else None,
        start=start,
        end=end,
        inputs=messages_from(observation.get("input"), "user"),
        outputs=messages_from(observation.get("output"), "assistant"),
        model=observation.get("model") or None,
        input_tokens=_first_whole(usage, _INPUT_TOKENS) or whole(observation.get("inputUsage")),
        output_tokens=_first_whole(usage, _OUTPUT_TOKENS) or whole(observation.get("outputUsage")),
        cost=_cost(observation),
        metadata={"error": error or None},
    )


def _first_whole(usage: Any, keys: tuple[str, ...]) -> int | None:
    if not isinstance(usage, dict):
        return None
    return next((found for key in keys if (found := whole(usage.get(key))) is not None), None)


def _cost(observation: dict) -> float | None:
    for key in ("calculatedTotalCost", "totalCost", "totalPrice"):
        found = number(observation.get(key))
        if found is not None:
            return found
    details = observation.get("costDetails")
    return number(details.get("total")) if isinstance(details, dict) else None


def _scores(scores: Any) -> dict[str, Any]:
    """Scores by name: numeric values, booleans as True/False, categories as their text."""
    out: dict[str, Any] = {}
    for score in scores or []:
        if not isinstance(score, dict) or not score.get("name"):
            continue  # a list of score ids
        kind = str(score.get("dataType", "")).upper()
        value = score.get("stringValue") if kind == "CATEGORICAL" else score.get("value")
        if kind == "BOOLEAN" and value is not None:
            value = bool(value)
        out[str(score["name"])] = value
    return out


def _user_metadata(value: Any) -> dict[str, Any] | None:
    """The trace's metadata without what the SDK adds about itself; JSON text is decoded."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {"metadata": value} if value.strip() else None
    if not isinstance(value, dict):
        return None
    kept = {key: item for key, item in value.items() if key not in _SDK_METADATA}
    return kept or None
