"""LangSmith run exports: runs (``Client.list_runs``, the bulk export) with inputs, outputs and feedback.

A LangSmith trace is a tree of runs (``run_type`` ``chain``, ``llm``, ``tool``, ``retriever``...)
sharing a ``trace_id``; a run exported with its ``child_runs`` is read with them. One conversation
per trace (chat id: the trace id). Its messages come from the ``llm`` runs: ``inputs.messages``
(OpenAI chat form, or LangChain messages) and ``outputs`` (an OpenAI completion, LangChain
``generations``, or a message), merged in time order (see ``kura.io.traces``). When no LLM run holds
a chat message, the root run's own ``inputs`` and ``outputs`` are used (a question in, an answer out).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from kura.io.base import Item, Problem, RecordError, Source, mapping
from kura.io.chat_values import messages_from
from kura.io.traces import Step, number, read_step_records, read_steps, utc_time, whole

NAME = "langsmith"
DESCRIPTION = "LangSmith run export (JSON/JSONL/Parquet): runs with inputs, outputs, feedback_stats"

# extra.metadata keys LangSmith's SDK writes about itself rather than about the conversation.
_SDK_PREFIXES = ("ls_", "LANGSMITH_", "LANGCHAIN_")
_SDK_KEYS = {"revision_id"}
# extra.metadata keys that name the chat (a "thread") a trace belongs to, as LangSmith reads them.
_THREAD_KEYS = ("thread_id", "session_id", "conversation_id")


def matches(record: dict) -> bool:
    return isinstance(record.get("run_type"), str) and ("trace_id" in record or "inputs" in record)


def read(source: Source) -> Iterator[Item]:
    return read_steps(source, record_steps)


def read_records(source: Source, records: Any) -> Iterator[Item]:
    return read_step_records(source, records, record_steps)


def record_steps(run: dict, location: str) -> Iterator[Step | Problem]:
    """The steps of one run and of the child runs exported inside it."""
    trace_id = run.get("trace_id") or (run.get("id") if not run.get("parent_run_id") else None)
    if trace_id in (None, ""):
        raise RecordError("the run has no 'trace_id' (and is not a root run with an 'id')")
    yield from _run_steps(run, str(trace_id), location, depth=0)


def _run_steps(run: dict, trace_id: str, location: str, depth: int) -> Iterator[Step | Problem]:
    start, end = utc_time(run.get("start_time")), utc_time(run.get("end_time"))
    extra = _object(run.get("extra"))
    metadata = mapping(extra.get("metadata"))
    root = not run.get("parent_run_id")
    llm = run.get("run_type") == "llm"
    step = Step(key=trace_id, location=location, trace_id=trace_id, start=start, end=end)
    if llm:
        step.inputs = messages_from(run.get("inputs"), "user")
        step.outputs = messages_from(run.get("outputs"), "assistant")
        step.model = _model(run, extra, metadata)
        step.input_tokens, step.output_tokens = _tokens(run)
        step.cost = number(run.get("total_cost"))
    if root:
        step.fallback = messages_from(run.get("inputs"), "user", start) + messages_from(
            run.get("outputs"), "assistant", end
        )
        step.metadata = {
            "trace_name": run.get("name"),
            "run_type": run.get("run_type"),
            "thread_id": next((metadata[k] for k in _THREAD_KEYS if metadata.get(k)), None),
            "user_id": metadata.get("user_id"),
            "tags": [tag for tag in run.get("tags") or [] if isinstance(tag, str)],
            "status": run.get("status"),
            "run_metadata": _user_metadata(metadata),
        }
    if run.get("error"):
        step.metadata["error"] = str(run["error"])
    step.scores = _feedback(_object(run.get("feedback_stats")))
    if llm or root or step.scores or run.get("error"):
        yield step
    for number_, child in enumerate(run.get("child_runs") or []):
        if isinstance(child, dict) and depth < 100:
            yield from _run_steps(child, trace_id, f"{location} child run {number_ + 1}", depth + 1)


def _object(value: Any) -> dict:
    """A nested field as an object: Parquet exports hold them as JSON text."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return mapping(value)


def _model(run: dict, extra: dict, metadata: dict) -> str | None:
    params = mapping(extra.get("invocation_params"))
    outputs = _object(run.get("outputs"))
    inputs = _object(run.get("inputs"))
    for value in (
        outputs.get("model"),
        params.get("model"),
        params.get("model_name"),
        metadata.get("ls_model_name"),
        inputs.get("model"),
    ):
        if isinstance(value, str) and value:
            return value
    return None


def _tokens(run: dict) -> tuple[int | None, int | None]:
    """Prompt and completion tokens: the run's own counts, else the usage in its outputs."""
    prompt, completion = whole(run.get("prompt_tokens")), whole(run.get("completion_tokens"))
    if prompt is not None or completion is not None:
        return prompt, completion
    outputs = _object(run.get("outputs"))
    usage = outputs.get("usage_metadata") or outputs.get("usage") or {}
    if isinstance(usage, dict):
        return (
            whole(usage.get("input_tokens", usage.get("prompt_tokens"))),
            whole(usage.get("output_tokens", usage.get("completion_tokens"))),
        )
    return None, None


def _feedback(stats: Any) -> dict[str, Any]:
    """``feedback_stats`` ``{key: {n, avg, ...}}`` as ``{key: avg}`` (or the most common value)."""
    out: dict[str, Any] = {}
    if not isinstance(stats, dict):
        return out
    for key, stat in stats.items():
        if isinstance(stat, dict):
            value = stat.get("avg")
            if value is None and isinstance(stat.get("values"), dict) and stat["values"]:
                value = max(stat["values"], key=lambda v: stat["values"][v])
            out[str(key)] = value
        else:
            out[str(key)] = stat
    return out


def _user_metadata(metadata: dict) -> dict[str, Any] | None:
    kept = {
        key: value
        for key, value in metadata.items()
        if not key.startswith(_SDK_PREFIXES) and key not in _SDK_KEYS and key not in _THREAD_KEYS and key != "user_id"
    }
    return kept or None
