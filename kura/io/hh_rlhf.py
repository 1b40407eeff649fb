"""Anthropic HH-RLHF: records ``{"chosen", "rejected"}``, each a transcript
``"\n\nHuman: ...\n\nAssistant: ..."``. One conversation per record, from ``chosen`` (the preferred
last answer); its id is ``<file stem>:<record index>`` because the records carry none.
"""

from __future__ import annotations

import re

from kura.io.base import RecordContext, RecordError, require
from kura.types.conversation import Conversation, Message

NAME = "hh-rlhf"
DESCRIPTION = "Anthropic HH-RLHF JSONL: 'chosen'/'rejected' transcripts of Human:/Assistant: turns"

_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):[ \t]?")
_ROLES = {"Human": "user", "Assistant": "assistant"}


def matches(record: dict) -> bool:
    chosen = record.get("chosen")
    return isinstance(chosen, str) and "Human:" in chosen and "Assistant:" in chosen


def parse(record: dict, context: RecordContext) -> Conversation:
    transcript = require(record, "chosen", str)
    messages = split_transcript(transcript)
    if not messages:
        raise RecordError("'chosen' has no 'Human:' or 'Assistant:' turns")
    return Conversation(chat_id=context.default_id(), messages=messages, metadata=context.metadata())


def split_transcript(transcript: str) -> list[Message]:
    """``"\n\nHuman: a\n\nAssistant: b"`` -> [user a, assistant b]; text before the first turn is dropped."""
    pieces = _TURN.split(transcript)
    # split() gives [before, speaker, text, speaker, text, ...]
    messages = []
    for speaker, text in zip(pieces[1::2], pieces[2::2]):
        text = text.strip()
        if text:
            messages.append(Message(role=_ROLES[speaker], content=text))
    return messages
