"""Conversations from trace exports, where one conversation is spread over many records.

Langfuse, LangSmith and OpenTelemetry log each model call (a generation, an LLM run, a span) with
the messages it was sent and what it answered. A reader turns each record into ``Step``s, keyed by
the conversation they belong to (a trace, a session); here the steps of one key are put in time
order and their messages merged into one conversation:

- each call is usually sent the whole history so far, so a step's messages that repeat the end of
  the conversation built so far are not added again; only what follows is (``merge_messages``);
- a message keeps the time of the step that first showed it: inputs the step's start, outputs
  its end;
- metadata: the first value of each field wins, lists are joined; models are listed; tokens and
  cost are summed; ``latency_s`` adds up each trace's span (first start to last end); scores are
  averaged per name.

Every record must be seen before a conversation is known to be complete (exports are not sorted
by trace), so the steps' messages are held in memory until the file ends, as a CSV with a row per
message is. A record that cannot be read costs only itself (a Problem at its location); a
conversation whose steps hold no message with text is one Problem at its first record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from kura.io.base import (
    Item,
    Loaded,
    Problem,
    Record,
    RecordContext,
    RecordError,
    Source,
    iter_records,
    parse_time,
    shown,
)
from kura.types.conversation import Conversation, Message

# Reads one record (its value and location) into the steps it holds; RecordError for a bad record.
StepReader = Callable[[Any, str], Iterable["Step | Problem"]]


@dataclass
class Step:
    """One logged model call (or trace summary) and what it says about its conversation."""

    key: str  # the conversation it belongs to
    location: str
    trace_id: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    inputs: list[Message] = field(default_factory=list)
    outputs: list[Message] = field(default_factory=list)
    # Used only when no step of the conversation has messages (a trace's own input and output).
    fallback: list[Message] = field(default_factory=list)
    model: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


def read_steps(source: Source, read_record: StepReader) -> Iterator[Item]:
    """Conversations from a JSON/JSONL file whose records ``read_record`` turns into steps."""
    return read_step_records(source, iter_records(source), read_record)


def read_step_records(source: Source, records: Iterable[Record | Problem], read_record: StepReader) -> Iterator[Item]:
    """As :func:`read_steps`, for records from any container (table rows as well)."""
    groups: dict[str, list[Step]] = {}
    first_index: dict[str, int] = {}
    for record in records:
        if isinstance(record, Problem):
            yield record
            continue
        if not isinstance(record.value, dict):
            yield Problem(record.location, "expected a JSON object")
            continue
        try:
            items = list(read_record(record.value, record.location))
        except RecordError as exc:
            yield Problem(record.location, str(exc))
            continue
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            yield Problem(record.location, f"unexpected structure ({type(exc).__name__}: {exc})")
            continue
        for item in items:
            if isinstance(item, Problem):
                yield item
                continue
            groups.setdefault(item.key, []).append(item)
            first_index.setdefault(item.key, record.index)
    for key, steps in groups.items():
        try:
            conversation = assemble(key, steps, RecordContext(source, first_index[key]))
        except RecordError as exc:
            yield Problem(steps[0].location, str(exc))
            continue
        yield Loaded(steps[0].location, conversation)


def assemble(key: str, steps: list[Step], context: RecordContext) -> Conversation:
    """One conversation from its steps (see the module docstring)."""
    if all(step.start is not None for step in steps):
        steps = sorted(steps, key=lambda step: _utc(step.start))  # stable: ties keep file order
    messages: list[Message] = []
    for step in steps:
        merge_messages(messages, [_at(m, step.start) for m in step.inputs])
        merge_messages(messages, [_at(m, step.end or step.start) for m in step.outputs])
    if not messages:
        for step in steps:
            merge_messages(messages, step.fallback)
    if not messages:
        raise RecordError(f"conversation {shown(key)} has no messages with text in any of its {len(steps)} records")
    starts = [_utc(step.start) for step in steps if step.start is not None]
    created_at = min(starts) if starts else next((m.created_at for m in messages if m.created_at), None)
    return Conversation(
        chat_id=key,
        created_at=created_at,
        messages=messages,
        metadata=context.metadata(**_metadata(steps)),
    )


def merge_messages(conversation: list[Message], new: list[Message]) -> None:
    """Append ``new`` to ``conversation`` without repeating the part they share.

    The overlap is the longest end of ``conversation`` that ``new`` starts with (a call sent the
    whole history, or a session's next trace); a step that does not continue the conversation
    (no overlap) is appended whole.
    """
    if not new:
        return
    have = [_key(m) for m in conversation]
    want = [_key(m) for m in new]
    overlap = 0
    for size in range(min(len(have), len(want)), 0, -1):
        if have[len(have) - size :] == want[:size]:
            overlap = size
            break
    conversation.extend(new[overlap:])


def _key(message: Message) -> tuple[str, str]:
    return message.role, message.content.strip()


def _at(message: Message, when: datetime | None) -> Message:
    if message.created_at is not None or when is None:
        return message
    return message.model_copy(update={"created_at": when})


def _utc(value: datetime | None) -> datetime:
    assert value is not None
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _metadata(steps: list[Step]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for step in steps:
        for name, value in step.metadata.items():
            if value is None or value == "" or value == [] or value == {}:
                continue
            if isinstance(value, list):
                joined = out.setdefault(name, [])
                joined.extend(item for item in value if item not in joined)
            else:
                out.setdefault(name, value)
    models = list(dict.fromkeys(step.model for step in steps if step.model))
    if models:
        out.setdefault("model", models[-1])
        if len(models) > 1:
            out.setdefault("models", models)
    for name in ("input_tokens", "output_tokens", "cost"):
        values = [getattr(step, name) for step in steps if getattr(step, name) is not None]
        if values:
            out[name] = round(sum(values), 10) if name == "cost" else sum(values)
    latency = _latency(steps)
    if latency is not None:
        out.setdefault("latency_s", latency)
    scores = _scores(steps)
    if scores:
        out["scores"] = scores
    trace_ids = list(dict.fromkeys(step.trace_id for step in steps if step.trace_id))
    if len(trace_ids) > 1:
        out["trace_ids"] = trace_ids
    return out


def _latency(steps: list[Step]) -> float | None:
    """Each trace's span, first start to last end, added up over the conversation's traces."""
    spans: dict[str | None, tuple[datetime, datetime]] = {}
    for step in steps:
        if step.start is None:
            continue
        start, end = _utc(step.start), _utc(step.end or step.start)
        known = spans.get(step.trace_id)
        spans[step.trace_id] = (min(start, known[0]), max(end, known[1])) if known else (start, end)
    if not spans:
        return None
    return round(sum((end - start).total_seconds() for start, end in spans.values()), 3)


def _scores(steps: list[Step]) -> dict[str, Any]:
    """Scores by name: numbers averaged, other values (categories, booleans) the last one seen."""
    gathered: dict[str, list[Any]] = {}
    for step in steps:
        for name, value in step.scores.items():
            if value is not None:
                gathered.setdefault(name, []).append(value)
    out: dict[str, Any] = {}
    for name, values in gathered.items():
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        out[name] = round(sum(numbers) / len(numbers), 6) if len(numbers) == len(values) else values[-1]
    return out


def utc_time(value: Any) -> datetime | None:
    """A logged time (ISO text, unix seconds or milliseconds) in UTC; a time without zone is UTC."""
    parsed = parse_time(value)
    return parsed if parsed is None or parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def number(value: Any) -> float | None:
    """A number from a logged value (OTLP writes integers as text); None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value) if "." in value or "e" in value.lower() else int(value)
        except ValueError:
            return None
    return None


def whole(value: Any) -> int | None:
    found = number(value)
    return int(found) if found is not None else None
