"""Where each conversation sits in ``conversations.jsonl`` and when it was created, in one scan.

Lines are pydantic dumps starting ``{"chat_id":"...","created_at":null|"..."``, so both are cut
out of the bytes without parsing the messages (a line that differs, e.g. an id with escapes, is
parsed in full). Newlines are found with numpy, a block at a time: a million conversations take
seconds, not the minutes a full parse would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

_ID_PREFIX = b'{"chat_id":"'
_CREATED = b',"created_at":"'
_NO_CREATED = b',"created_at":null'


@dataclass
class ConversationIndex:
    #: chat id -> (byte offset, length) of its line.
    offsets: dict[str, tuple[int, int]] = field(default_factory=dict)
    #: chat id -> ISO creation time as written, or None.
    created_at: dict[str, str | None] = field(default_factory=dict)


def index_conversations(path: str | Path) -> ConversationIndex:
    index = ConversationIndex()
    position = 0
    with open(path, "rb") as f:
        carry = b""
        while True:
            chunk = f.read(1 << 24)
            block = carry + chunk
            cut = block.rfind(b"\n") + 1 if chunk else len(block)
            block, carry = block[:cut], block[cut:]
            _index_block(index, block, position)
            position += len(block)
            if not chunk:
                return index


def _index_block(index: ConversationIndex, block: bytes, position: int) -> None:
    newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    starts = [0, *(newlines + 1).tolist()]
    ends = [*(newlines + 1).tolist(), len(block)]
    skip = len(_ID_PREFIX)
    for start, end in zip(starts, ends):
        if end - start < 3:
            continue
        quote = block.find(b'"', start + skip, end)
        created: str | None = None
        if block.startswith(_ID_PREFIX, start) and quote > 0 and block.find(b"\\", start + skip, quote) < 0:
            chat_id = block[start + skip : quote].decode()
            if block.startswith(_CREATED, quote + 1):
                close = block.find(b'"', quote + 1 + len(_CREATED), end)
                created = block[quote + 1 + len(_CREATED) : close].decode()
            elif not block.startswith(_NO_CREATED, quote + 1):
                chat_id, created = _parse_head(block[start:end])
        elif block[start:end].strip():
            chat_id, created = _parse_head(block[start:end])
        else:
            continue
        index.offsets[chat_id] = (position + start, end - start)
        index.created_at[chat_id] = created


def _parse_head(line: bytes) -> tuple[str, str | None]:
    record = json.loads(line)
    return record["chat_id"], record.get("created_at")
