"""ChatGPT data export (``conversations.json``): a JSON array of conversations, each a tree of nodes.

Each conversation stores every message ever written in ``mapping``; editing a message or
regenerating an answer adds a sibling branch. What the user saw last is the path from the root to
``current_node``, so that path, and only that path, becomes the conversation.
"""

from __future__ import annotations

from typing import Any

from kura.io.base import RecordContext, RecordError, iso_time, parse_time, require, shown
from kura.types.conversation import Conversation, Message, Role

NAME = "chatgpt"
DESCRIPTION = "ChatGPT data export (conversations.json): the visible branch of each conversation tree"

# Placeholders for parts of a multimodal message that carry no text.
_ASSET_PLACEHOLDERS = {
    "image_asset_pointer": "[image]",
    "audio_asset_pointer": "[audio]",
    "real_time_user_audio_video_asset_pointer": "[audio]",
    "video_container_asset_pointer": "[video]",
}
# Model reasoning, not part of the dialogue (as Claude's "thinking" is ignored too).
_REASONING_TYPES = {"thoughts", "reasoning_recap"}


def matches(record: dict) -> bool:
    return isinstance(record.get("mapping"), dict)


def parse(record: dict, context: RecordContext) -> Conversation:
    mapping = require(record, "mapping", dict)
    messages: list[Message] = []
    slugs: list[str] = []
    for node_id in _visible_path(mapping, record.get("current_node")):
        node = mapping[node_id]
        raw = node.get("message") if isinstance(node, dict) else None
        if not isinstance(raw, dict):
            continue  # the root node has no message
        slug = (raw.get("metadata") or {}).get("model_slug")
        if slug and slug not in slugs:
            slugs.append(slug)
        message = _message(raw, node_id)
        if message is not None:
            messages.append(message)
    if not messages:
        raise RecordError("no visible messages with text on the path to 'current_node'")
    chat_id = record.get("conversation_id") or record.get("id") or context.default_id()
    model = record.get("default_model_slug") or (slugs[-1] if slugs else None)
    return Conversation(
        chat_id=str(chat_id),
        created_at=parse_time(record.get("create_time")),
        messages=messages,
        metadata=context.metadata(
            title=record.get("title"),
            updated_at=iso_time(record.get("update_time")),
            model=model,
            models=slugs if len(slugs) > 1 else None,
            gizmo_id=record.get("gizmo_id"),
        ),
    )


def _visible_path(mapping: dict, current_node: str | None) -> list[str]:
    """Node ids from the root to ``current_node``.

    Old exports without ``current_node`` fall back to the newest branch: from the root, always the
    last child (the latest edit or regeneration). A damaged tree whose links loop is a RecordError
    naming a node of the loop.
    """
    if current_node is not None and current_node not in mapping:
        raise RecordError(f"'current_node' {shown(current_node)} is not in 'mapping'")
    if current_node is None:
        roots = [key for key, node in mapping.items() if not node.get("parent")]
        if not roots:
            _path_up(mapping, next(iter(mapping), None))  # every node has a parent: raises at the loop
            raise RecordError("'mapping' has no root node (every node has a parent)")
        return _newest_branch(mapping, roots[0])
    path = _path_up(mapping, current_node)
    path.reverse()
    return path


def _path_up(mapping: dict, node_id: str | None) -> list[str]:
    """Node ids from ``node_id`` up through its parents to the root."""
    path: list[str] = []
    seen: set[str] = set()
    while node_id is not None:
        if node_id in seen:
            raise RecordError(f"'mapping' has a cycle at node {shown(node_id)}")
        seen.add(node_id)
        path.append(node_id)
        parent = mapping[node_id].get("parent")
        if parent is not None and parent not in mapping:
            raise RecordError(f"node {shown(node_id)} has parent {shown(parent)}, which is not in 'mapping'")
        node_id = parent
    return path


def _newest_branch(mapping: dict, root: str) -> list[str]:
    """From ``root`` down through the last child of each node."""
    path = [root]
    seen = {root}
    while mapping[path[-1]].get("children"):
        child = mapping[path[-1]]["children"][-1]
        if child not in mapping:
            break
        if child in seen:
            raise RecordError(f"'mapping' has a cycle at node {shown(child)}")
        seen.add(child)
        path.append(child)
    return path


def _message(raw: dict, node_id: str) -> Message | None:
    """One node's message, or None when it is hidden, reasoning, or has no text."""
    metadata = raw.get("metadata") or {}
    if metadata.get("is_visually_hidden_from_conversation"):
        return None
    author = raw.get("author") or {}
    content = raw.get("content") or {}
    content_type = content.get("content_type", "text")
    if content_type in _REASONING_TYPES:
        return None
    role: Role
    if content_type == "code":
        # The assistant writing code for a tool (Code Interpreter): the code is its turn.
        role = "assistant"
        text = _code_block(content, raw.get("recipient"))
    else:
        role = _role(author.get("role"), node_id)
        if content_type == "execution_output":
            role = "tool"
        text = _text(content)
    if not text.strip():
        return None  # empty system prompts, empty placeholders
    return Message(created_at=parse_time(raw.get("create_time")), role=role, content=text)


def _role(value: Any, node_id: str) -> Role:
    if value in ("user", "assistant", "system", "tool"):
        return value
    raise RecordError(f"node {shown(node_id)}: unknown author role {shown(value)}")


def _code_block(content: dict, recipient: Any) -> str:
    code = str(content.get("text") or "").replace("\r\n", "\n").strip("\n")
    if not code.strip():
        return ""
    language = content.get("language")
    if not language or language == "unknown":
        language = recipient if isinstance(recipient, str) and recipient != "all" else ""
    return f"```{language}\n{code}\n```"


def _text(content: dict) -> str:
    """Text of a ``text``/``multimodal_text``/other content: parts joined, placeholders for media."""
    parts = content.get("parts")
    if isinstance(parts, list):
        pieces = [_part_text(part) for part in parts]
        return "\n".join(piece for piece in pieces if piece)
    for key in ("text", "result"):  # execution_output, tether_quote, system_error, ...
        if isinstance(content.get(key), str):
            return content[key]
    return ""


def _part_text(part: Any) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return ""
    kind = part.get("content_type", "")
    if kind == "audio_transcription":
        return str(part.get("text") or "")
    if kind in _ASSET_PLACEHOLDERS:
        return _ASSET_PLACEHOLDERS[kind]
    if isinstance(part.get("text"), str):
        return part["text"]
    return f"[{kind.replace('_asset_pointer', '') or 'attachment'}]"
