"""OpenAI-style messages: one conversation per record with ``messages: [{role, content}]``.

``content`` is a string or a list of parts (``{"type": "text", "text"}``; images and audio become
``[image]``/``[audio]``). An assistant turn that only calls tools (``tool_calls``, content null)
becomes ``[tool call: name]`` plus its arguments; ``tool``/``function`` answers keep the ``tool``
role. The uniform JSONL of Kura's test data (``tests/data``) (``{"id", "messages", "label"}``) is this format; every
other top-level field (``label``...) goes to metadata.
"""

from __future__ import annotations

import json
from typing import Any

from kura.io.base import RecordContext, RecordError, chat_id_from, normalise_role, parse_time, plain, require
from kura.types.conversation import Conversation, Message

NAME = "openai"
DESCRIPTION = "OpenAI-style messages JSON/JSONL: {messages: [{role, content}]}, content text or parts"

_ID_KEYS = ("id", "conversation_id", "chat_id")
_TIME_KEYS = ("created_at", "created", "timestamp", "create_time")
_KNOWN = {*_ID_KEYS, *_TIME_KEYS, "messages"}
_MEDIA = {
    "image_url": "[image]",
    "input_image": "[image]",
    "image": "[image]",
    "input_audio": "[audio]",
    "audio": "[audio]",
    "file": "[file]",
    "input_file": "[file]",
}


def matches(record: dict) -> bool:
    messages = record.get("messages")
    return isinstance(messages, list) and (not messages or (isinstance(messages[0], dict) and "role" in messages[0]))


def parse(record: dict, context: RecordContext) -> Conversation:
    raw_messages = require(record, "messages", list)
    messages = [m for number, raw in enumerate(raw_messages, start=1) if (m := parse_message(raw, number)) is not None]
    if not messages:
        raise RecordError("no messages with text")
    time_key = next((key for key in _TIME_KEYS if record.get(key) not in (None, "")), None)
    extra = {key: plain(value) for key, value in record.items() if key not in _KNOWN}
    return Conversation(
        chat_id=chat_id_from(record, _ID_KEYS, context),
        created_at=parse_time(record[time_key]) if time_key else None,
        messages=messages,
        metadata=context.metadata(**extra),
    )


def parse_message(raw: Any, number: int) -> Message | None:
    """One ``{role, content}`` message; None when it has no text (e.g. an empty assistant turn)."""
    if not isinstance(raw, dict):
        raise RecordError(f"message {number} is not an object")
    if "role" not in raw:
        raise RecordError(f"message {number}: 'role' is missing")
    role = normalise_role(raw["role"], f"message {number} 'role'")
    text = content_text(raw.get("content"), number)
    calls = raw.get("tool_calls") or ([raw["function_call"]] if raw.get("function_call") else [])
    if calls:
        text = "\n\n".join(filter(None, [text, *(call_text(call) for call in calls)]))
    if not text.strip():
        return None
    return Message(created_at=parse_time(raw.get("created_at")), role=role, content=text)


def content_text(content: Any, number: int) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        pieces = []
        for part in content:
            if isinstance(part, str):
                pieces.append(part)
            elif isinstance(part, dict):
                kind = part.get("type", "text")
                if isinstance(part.get("text"), str):  # text, input_text, output_text
                    pieces.append(part["text"])
                elif kind == "refusal" and isinstance(part.get("refusal"), str):
                    pieces.append(part["refusal"])
                elif kind in _MEDIA:
                    pieces.append(_MEDIA[kind])
        return "\n".join(piece for piece in pieces if piece)
    raise RecordError(f"message {number}: 'content' should be a string or a list of parts")


def call_text(call: Any) -> str:
    """``[tool call: NAME]`` and the arguments, for OpenAI's ``{function: {name, arguments}}``, a bare
    ``{name, arguments}`` (OpenTelemetry) or LangChain's ``{name, args}``."""
    if not isinstance(call, dict):
        return ""
    function = call.get("function")
    if not isinstance(function, dict):
        function = call
    name = function.get("name") or "tool"
    arguments = function.get("arguments", function.get("args"))
    if isinstance(arguments, (dict, list)):
        arguments = json.dumps(arguments, ensure_ascii=False) if arguments else None
    return f"[tool call: {name}]\n{arguments}" if arguments not in (None, "", "{}") else f"[tool call: {name}]"
