"""Kura 0.5's own conversation dumps: a JSON array (``Conversation.generate_conversation_dump``) or
JSONL of ``Conversation`` objects (``chat_id``, ``created_at``, ``messages``, ``metadata``).

These are Kura's output, so they are read back exactly: metadata is kept as written and no source
file is added (the record already says where it first came from). Fields beyond a dump's (extra
columns of a table or dataset in this shape) join the metadata.
"""

from __future__ import annotations

from kura.io.base import RecordContext, RecordError, plain, require
from kura.types.conversation import Conversation

NAME = "kura"
DESCRIPTION = "Kura 0.5 conversation dump, JSON array or JSONL of {chat_id, created_at, messages, metadata}"


def matches(record: dict) -> bool:
    return "chat_id" in record and isinstance(record.get("messages"), list)


def parse(record: dict, context: RecordContext) -> Conversation:
    if record.get("chat_id") in (None, ""):
        raise RecordError("'chat_id' is missing")
    require(record, "messages", list)
    conversation = Conversation.model_validate({**record, "chat_id": str(record["chat_id"])})
    # Rows of a table or dataset may carry more columns than a dump; they are metadata too.
    for key in record.keys() - Conversation.model_fields.keys():
        conversation.metadata.setdefault(key, plain(record[key]))
    if not any(message.content.strip() for message in conversation.messages):
        raise RecordError("no messages with text")
    return conversation
