"""What request logs of the model APIs share: one JSON object per call with its request and response.

Gateways and proxies (and applications that log their own calls) write a line per call:
``{"request": {...}, "response": {...}}`` plus fields of their own (an id, a time, the latency, the
user). The request and response may be objects, JSON text, or wrapped as ``{"body": ...}`` (as the
OpenAI Batch API and several gateways write them). The formats themselves are in ``openai_log``
and ``anthropic_log``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from kura.io.base import RecordContext, RecordError, first_present, parse_time, plain

ID_KEYS = ("id", "request_id", "log_id", "conversation_id", "chat_id")
TIME_KEYS = ("timestamp", "created_at", "time", "start_time", "request_time")
_LATENCY_MS = ("latency_ms", "duration_ms", "response_time_ms")
_LATENCY_S = ("latency_s", "latency", "duration_s", "duration")
_USER_KEYS = ("user_id", "user")
_OWN = {"request", "response", "error", *ID_KEYS, *TIME_KEYS, *_LATENCY_MS, *_LATENCY_S, *_USER_KEYS}


def logged_call(record: dict) -> tuple[dict, dict] | None:
    """The request (with its ``messages`` list) and the response of a logged call, or None when
    ``record`` is not one (what each log format's ``matches`` starts from)."""
    try:
        request, response = part(record, "request"), part(record, "response")
    except RecordError:
        return None
    if request is None or response is None or not isinstance(request.get("messages"), list):
        return None
    return request, response


def part(record: dict, name: str) -> dict | None:
    """``record[name]`` as an object: JSON text decoded, a ``{"body": ...}`` wrapper opened."""
    value = record.get(name)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise RecordError(f"{name!r} is text but not JSON") from None
    if isinstance(value, dict) and isinstance(value.get("body"), (dict, str)) and "messages" not in value:
        return part(value, "body")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RecordError(f"{name!r} should be an object")
    return value


def call_time(record: dict, response: dict | None, response_time_key: str | None) -> datetime | None:
    """When the call was made: the log's own time, else the response's (OpenAI's ``created``)."""
    value = first_present(record, TIME_KEYS)
    if value is None and response is not None and response_time_key:
        value = response.get(response_time_key)
    return parse_time(value)


def log_metadata(record: dict, request: dict, context: RecordContext, **fields: Any) -> dict[str, Any]:
    """Metadata every request log has, then the log's other fields (a gateway's tags, a cost...)."""
    latency_ms = first_present(record, _LATENCY_MS)
    latency = float(latency_ms) / 1000 if latency_ms is not None else first_present(record, _LATENCY_S)
    error = record.get("error")
    extra = {key: plain(value) for key, value in record.items() if key not in _OWN}
    return context.metadata(
        **fields,
        user_id=first_present(record, _USER_KEYS) or request.get("user"),
        request_metadata=plain(request.get("metadata")) or None,
        latency_s=latency,
        error=(error.get("message") or json.dumps(error)) if isinstance(error, dict) else error,
        **extra,
    )


def chat_id(record: dict, response: dict | None, context: RecordContext) -> str:
    value = first_present(record, ID_KEYS) or (response or {}).get("id")
    return str(value) if value not in (None, "") else context.default_id()
