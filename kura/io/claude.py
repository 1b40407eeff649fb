"""Claude.ai data export (``conversations.json``): a JSON array of conversations with ``chat_messages``.

New exports give each message a ``content`` list of blocks (``text``, ``thinking``, ``tool_use``,
``tool_result``); older ones only ``text``. Text blocks are the dialogue; thinking is the model's
private reasoning and is left out; tool calls and their results are kept as short marked messages
(tool results with the ``tool`` role) because what a tool returned is often what the user asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from kura.io.base import RecordContext, RecordError, iso_time, normalise_role, parse_time, require
from kura.types.conversation import Conversation, Message, Role

NAME = "claude"
DESCRIPTION = "Claude.ai data export (conversations.json with chat_messages)"


def matches(record: dict) -> bool:
    return "chat_messages" in record


def load_claude_export(
    path: str | Path,
    metadata_fn: Callable[[dict], dict] = lambda x: {},
) -> list[Conversation]:
    """Read a Claude.ai ``conversations.json`` (Kura 0.5's ``from_claude_conversation_dump``).

    ``metadata_fn`` gets each raw conversation record; what it returns is added to the metadata.
    Records that cannot be read are skipped and logged (as in :func:`kura.io.load_conversations`).
    """
    from kura.io.loader import load_with_metadata_fn

    return load_with_metadata_fn(path, format=NAME, metadata_fn=metadata_fn)


def parse(record: dict, context: RecordContext) -> Conversation:
    chat_messages = require(record, "chat_messages", list)
    turns: list[tuple[datetime | None, int, Message]] = []
    for number, raw in enumerate(chat_messages, start=1):
        if not isinstance(raw, dict):
            raise RecordError(f"message {number} is not an object")
        role = normalise_role(raw.get("sender"), f"message {number} 'sender'")
        for message in _messages(raw, role):
            turns.append((message.created_at, len(turns), message))
    if all(created_at is not None for created_at, _, _ in turns):
        # Exports list messages in order almost always; sorting makes sure (ties keep file order).
        turns.sort(key=lambda t: (t[0], t[1]))
    messages = [message for _, _, message in turns]
    if not messages:
        raise RecordError("no messages with text" + (" (the conversation is empty)" if not chat_messages else ""))
    account = record.get("account")
    if not isinstance(account, dict):
        account = {}
    return Conversation(
        chat_id=str(record.get("uuid") or context.default_id()),
        created_at=parse_time(record.get("created_at")),
        messages=messages,
        metadata=context.metadata(
            title=record.get("name"),
            claude_summary=record.get("summary"),
            updated_at=iso_time(record.get("updated_at")),
            user_id=account.get("uuid"),
        ),
    )


def _messages(raw: dict, role: Role) -> list[Message]:
    """One export message as one or more Messages: tool results get their own ``tool`` messages."""
    created_at = parse_time(raw.get("created_at"))
    segments: list[tuple[Role, str]] = []
    content = raw.get("content")
    if isinstance(content, list) and content:
        for block in content:
            if isinstance(block, dict):
                segments.extend(block_segments(block, role))
    if not any(text.strip() for _, text in segments) and isinstance(raw.get("text"), str):
        segments = [(role, raw["text"])]  # older exports: only 'text'
    if role == "user":
        segments.extend((role, extra) for extra in _attachments(raw))
    return segments_to_messages(segments, created_at)


def segments_to_messages(segments: list[tuple[Role, str]], created_at: datetime | None) -> list[Message]:
    """Consecutive segments of the same role form one message; empty ones are dropped."""
    merged: list[tuple[Role, str]] = []
    for segment_role, text in segments:
        if not text.strip():
            continue
        if merged and merged[-1][0] == segment_role:
            merged[-1] = (segment_role, f"{merged[-1][1]}\n\n{text}")
        else:
            merged.append((segment_role, text))
    return [Message(created_at=created_at, role=r, content=text) for r, text in merged]


def block_segments(block: dict, role: Role) -> list[tuple[Role, str]]:
    """One content block as (role, text) segments: tool results speak as ``tool``, thinking is left out."""
    kind = block.get("type")
    if kind == "text":
        return [(role, str(block.get("text") or ""))]
    if kind == "tool_use":
        return [("assistant", tool_use_text(block))]
    if kind == "tool_result":
        return [("tool", tool_result_text(block))]
    return []  # thinking, and block types added after this was written


def tool_use_text(block: dict) -> str:
    """``[tool call: NAME]`` and the input, one ``key: value`` per line (also read by anthropic_log)."""
    lines = [f"[tool call: {block.get('name') or 'tool'}]"]
    tool_input = block.get("input")
    if isinstance(tool_input, dict):
        for key, value in tool_input.items():
            # Artifact ids and version uuids say nothing about the request.
            if key in ("id", "version_uuid") or value in (None, ""):
                continue
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            lines.append(f"{key}: {shown}")
    elif tool_input is not None:
        lines.append(json.dumps(tool_input, ensure_ascii=False))
    return "\n".join(lines)


def tool_result_text(block: dict) -> str:
    """``[tool result: NAME]`` (``(error)`` when ``is_error``) and the text of the result."""
    content = block.get("content")
    if isinstance(content, list):
        text = "\n".join(str(part.get("text") or "") for part in content if isinstance(part, dict))
    else:
        text = str(content or "")
    marker = f"[tool result: {block.get('name') or 'tool'}{' (error)' if block.get('is_error') else ''}]"
    return f"{marker}\n{text}" if text.strip() else marker


def _attachments(raw: dict) -> list[str]:
    """Attached documents' extracted text, and markers for files that carry no text (images)."""
    out = []
    attached = set()
    for attachment in raw.get("attachments") or []:
        if not isinstance(attachment, dict):
            continue
        name = attachment.get("file_name") or "attachment"
        attached.add(name)
        extracted = attachment.get("extracted_content")
        out.append(f"[attachment: {name}]\n{extracted}" if extracted else f"[attachment: {name}]")
    for file in raw.get("files") or []:
        # 'files' lists uploads again, attachments included; only the others need a marker.
        if isinstance(file, dict) and file.get("file_name") and file["file_name"] not in attached:
            out.append(f"[file: {file['file_name']}]")
    return out
