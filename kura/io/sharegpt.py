"""ShareGPT: ``{"id", "conversations": [{"from": "human"|"gpt"|..., "value": str}]}``, as a JSON array or JSONL.

Datasets in this shape name the speakers many ways (``human``, ``user``, ``gpt``, ``chatgpt``,
``bing``, ``bard``, ``model``, ``system``, ``tool``, ``function``, ``observation``...); all map to
Kura's four roles (see ``ROLE_ALIASES``). Turns written as ``{"role", "content"}`` are read too.
Other top-level fields (``model``, ``lang``...) go to metadata.
"""

from __future__ import annotations

from kura.io.base import RecordContext, RecordError, chat_id_from, normalise_role, parse_time, plain, require
from kura.types.conversation import Conversation, Message

NAME = "sharegpt"
DESCRIPTION = "ShareGPT JSON/JSONL: conversations of {from, value} turns (human/gpt/system/tool/...)"

_ID_KEYS = ("id", "conversation_id", "chat_id")
_KNOWN = {*_ID_KEYS, "conversations", "created_at"}


def matches(record: dict) -> bool:
    turns = record.get("conversations")
    return isinstance(turns, list) and (
        not turns or (isinstance(turns[0], dict) and ("from" in turns[0] or "role" in turns[0]))
    )


def parse(record: dict, context: RecordContext) -> Conversation:
    turns = require(record, "conversations", list)
    messages = []
    for number, turn in enumerate(turns, start=1):
        if not isinstance(turn, dict):
            raise RecordError(f"turn {number} is not an object")
        # Some datasets in this shape use OpenAI's names inside: {"role", "content"}.
        speaker, text = ("role", "content") if "from" not in turn and "role" in turn else ("from", "value")
        if speaker not in turn:
            raise RecordError(f"turn {number}: 'from' is missing")
        role = normalise_role(turn[speaker], f"turn {number} {speaker!r}")
        value = turn.get(text)
        if not isinstance(value, str):
            if value is None:
                continue
            raise RecordError(f"turn {number}: {text!r} should be a string")
        if value.strip():
            messages.append(Message(role=role, content=value))
    if not messages:
        raise RecordError("no turns with text")
    extra = {key: plain(value) for key, value in record.items() if key not in _KNOWN}
    return Conversation(
        chat_id=chat_id_from(record, _ID_KEYS, context),
        created_at=parse_time(record.get("created_at")),
        messages=messages,
        metadata=context.metadata(**extra),
    )
