"""OpenAI Chat Completions request logs: one call per record, ``{"request": {model, messages}, "response": {...}}``.

The request's ``messages`` are read as the ``openai`` format reads them (content parts, tool
calls, roles); the answer is ``response.choices[0].message``, timed at ``response.created``. A call
that failed (no response) keeps its request, with the ``error`` in metadata. Each record is one
conversation: an agent that sends its whole history on every call gives one record per call.
"""

from __future__ import annotations

from kura.io.api_logs import call_time, chat_id, log_metadata, logged_call, part
from kura.io.base import RecordContext, RecordError, parse_time, require
from kura.io.openai import parse_message
from kura.types.conversation import Conversation

NAME = "openai-log"
DESCRIPTION = "OpenAI Chat Completions request log: {request: {model, messages}, response: {choices, usage}} per line"


def matches(record: dict) -> bool:
    call = logged_call(record)
    if call is None:
        return False
    response = call[1]
    return isinstance(response.get("choices"), list) or response.get("object") == "chat.completion"


def parse(record: dict, context: RecordContext) -> Conversation:
    request = part(record, "request")
    if request is None:
        raise RecordError("'request' is missing")
    response = part(record, "response")
    raw_messages = require(request, "messages", list)
    messages = [m for number, raw in enumerate(raw_messages, start=1) if (m := parse_message(raw, number)) is not None]
    answered = parse_time(response.get("created")) if response else None
    choices = (response or {}).get("choices") or []
    finish_reason = None
    if choices and isinstance(choices[0], dict):
        finish_reason = choices[0].get("finish_reason")
        answer = parse_message(choices[0].get("message") or {"role": "assistant"}, len(raw_messages) + 1)
        if answer is not None:
            messages.append(answer.model_copy(update={"created_at": answer.created_at or answered}))
    if not messages:
        raise RecordError("no messages with text in the request or the response")
    usage = (response or {}).get("usage") or {}
    return Conversation(
        chat_id=chat_id(record, response, context),
        created_at=call_time(record, response, "created"),
        messages=messages,
        metadata=log_metadata(
            record,
            request,
            context,
            model=(response or {}).get("model") or request.get("model"),
            input_tokens=usage.get("prompt_tokens"),
            output_tokens=usage.get("completion_tokens"),
            finish_reason=finish_reason,
        ),
    )
