"""Anthropic Messages API request logs: one call per record, ``{"request": {model, system, messages}, "response": {...}}``.

The request's ``system`` (text or text blocks) becomes a system message; ``messages`` have text or
content blocks, read as the ``claude`` format reads them (``tool_use`` kept as a marked call,
``tool_result`` as a ``tool`` message, ``thinking`` left out). The answer is the response's
``content`` blocks. The API's responses carry no time, so the log's own ``timestamp`` (or
``created_at``...) is the conversation's time and the answer's. A call that failed (no response)
keeps its request, with the ``error`` in metadata.
"""

from __future__ import annotations

from typing import Any

from kura.io.api_logs import call_time, chat_id, log_metadata, logged_call, part
from kura.io.base import RecordContext, RecordError, require
from kura.io.chat_values import messages_from
from kura.types.conversation import Conversation

NAME = "anthropic-log"
DESCRIPTION = "Anthropic Messages API request log: {request: {model, system, messages}, response: {content, usage}}"


def matches(record: dict) -> bool:
    call = logged_call(record)
    if call is None:
        return False
    response = call[1]
    return isinstance(response.get("content"), list) and (
        response.get("type") == "message" or response.get("role") == "assistant"
    )


def parse(record: dict, context: RecordContext) -> Conversation:
    request = part(record, "request")
    if request is None:
        raise RecordError("'request' is missing")
    response = part(record, "response")
    raw_messages = require(request, "messages", list)
    at = call_time(record, response, None)
    messages = messages_from(_system_text(request.get("system")), "system", at)
    for number, raw in enumerate(raw_messages, start=1):
        if not isinstance(raw, dict) or raw.get("role") not in ("user", "assistant"):
            raise RecordError(f"message {number}: 'role' should be 'user' or 'assistant'")
        messages += messages_from({"role": raw["role"], "content": raw.get("content")}, raw["role"])
    if response is not None:
        messages += messages_from({"role": "assistant", "content": response.get("content") or []}, "assistant", at)
    if not messages:
        raise RecordError("no messages with text in the request or the response")
    usage = (response or {}).get("usage") or {}
    return Conversation(
        chat_id=chat_id(record, response, context),
        created_at=at,
        messages=messages,
        metadata=log_metadata(
            record,
            request,
            context,
            model=(response or {}).get("model") or request.get("model"),
            input_tokens=usage.get("input_tokens"),
            output_tokens=usage.get("output_tokens"),
            stop_reason=(response or {}).get("stop_reason"),
        ),
    )


def _system_text(system: Any) -> str | None:
    """``system`` as text: a string, or the text of its blocks."""
    if isinstance(system, list):
        return "\n\n".join(b["text"] for b in system if isinstance(b, dict) and isinstance(b.get("text"), str))
    return system if isinstance(system, str) else None
