"""Messages from the values that tracing tools log as a step's input and output.

Langfuse, LangSmith and OpenTelemetry record whatever the application passed to the model, so one
reader meets many shapes. Those read here:

- OpenAI chat messages ``{role, content}``: content text or parts, ``tool_calls``/``function_call``;
- Anthropic messages: ``content`` blocks (``text``, ``tool_use``, ``tool_result``; ``thinking`` left out);
- OpenTelemetry GenAI messages ``{role, parts: [{type: text, content}, {type: tool_call...}]}``;
- LangChain messages, plain (``{type: human|ai|system|tool, content}``) or serialised
  (``{lc: 1, id: [..., "HumanMessage"], kwargs: {content}}``);
- a whole OpenAI completion (``choices[0].message``) or LangChain result (``generations[0][0]``);
- a dict holding ``messages``; a list of any of these (a list of lists: the first);
- text, which is one message of the role the caller expects (a question in, an answer out),
  unless it is JSON text, which is decoded first (Langfuse stores trace input as JSON text).

Anything else (a tool's arguments, a retriever's documents) yields no messages: a trace step that
is not a chat turn is not part of the conversation.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from kura.io.base import ROLE_ALIASES, mapping
from kura.io.claude import block_segments, segments_to_messages
from kura.io.openai import call_text
from kura.types.conversation import Message, Role

# LangChain's message types and class names.
_LANGCHAIN_ROLES: dict[str, Role] = {
    "human": "user",
    "humanmessage": "user",
    "humanmessagechunk": "user",
    "ai": "assistant",
    "aimessage": "assistant",
    "aimessagechunk": "assistant",
    "system": "system",
    "systemmessage": "system",
    "tool": "tool",
    "toolmessage": "tool",
    "function": "tool",
    "functionmessage": "tool",
}
_MEDIA = {"image_url", "input_image", "image", "input_audio", "audio", "file", "input_file", "blob", "uri"}
_REASONING = {"thinking", "redacted_thinking", "reasoning"}
# Keys under which applications put the question or the answer as text.
# "args": a traced Python function's positional arguments (the question, as often as not).
_TEXT_KEYS = (
    "content",
    "text",
    "input",
    "question",
    "query",
    "prompt",
    "output",
    "answer",
    "result",
    "response",
    "args",
)
# JSON text inside JSON text inside...: Langfuse's trace input is often encoded twice.
_MAX_DECODES = 3


def messages_from(value: Any, role: Role, at: datetime | None = None) -> list[Message]:
    """The chat messages in ``value``; text and unnamed turns get ``role``, every message ``at``."""
    return segments_to_messages(_segments(value, role, 0), at)


def _segments(value: Any, role: Role, depth: int) -> list[tuple[Role, str]]:
    if value is None or depth > 6:
        return []
    if isinstance(value, str):
        decoded = _decoded(value)
        if decoded is not None:
            return _segments(decoded, role, depth + 1)
        return [(role, value)] if value.strip() else []
    if isinstance(value, list):
        if value and all(isinstance(item, list) for item in value):
            return _segments(value[0], role, depth + 1)  # batched prompts: the first batch
        if value and all(isinstance(item, dict) and _is_message(item) for item in value):
            return [segment for item in value for segment in _message_segments(item, role)]
        return _parts(value, role)
    if isinstance(value, dict):
        return _dict_segments(value, role, depth)
    return []


def _dict_segments(value: dict, role: Role, depth: int) -> list[tuple[Role, str]]:
    if _is_message(value):
        return _message_segments(value, role)
    if isinstance(value.get("messages"), list):
        return _segments(value["messages"], role, depth + 1)
    choices = value.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        first = choices[0]
        return _segments(first.get("message", first.get("text")), "assistant", depth + 1)
    generations = value.get("generations")
    if isinstance(generations, list) and generations:
        first = generations[0][0] if isinstance(generations[0], list) and generations[0] else generations[0]
        if isinstance(first, dict):
            return _segments(first.get("message", first.get("text")), "assistant", depth + 1)
    for key in _TEXT_KEYS:
        if isinstance(value.get(key), (str, list, dict)):
            found = _segments(value[key], role, depth + 1)
            if found:
                return found
    return []


def _decoded(text: str) -> Any:
    """The value of JSON text that holds an object, a list or another string; None for plain text."""
    stripped = text.strip()
    if not stripped or stripped[0] not in '[{"':
        return None
    value: Any = stripped
    for _ in range(_MAX_DECODES):
        try:
            value = json.loads(value)
        except ValueError:
            return None
        if not isinstance(value, str):
            return value
    return value


def _is_message(item: dict) -> bool:
    if "role" in item and ("content" in item or "parts" in item or "tool_calls" in item):
        return True
    if item.get("lc") == 1 and isinstance(item.get("kwargs"), dict):
        return True
    kind = item.get("type")
    return isinstance(kind, str) and kind.lower() in _LANGCHAIN_ROLES and "content" in item


def message_role(item: dict, default: Role) -> Role | None:
    """The role of one logged message, or None when it names none Kura knows."""
    if item.get("lc") == 1:
        ids = item.get("id")
        name = ids[-1] if isinstance(ids, list) and ids else ""
        kwargs = item.get("kwargs") or {}
        if str(name).lower() == "chatmessage":
            return ROLE_ALIASES.get(str(kwargs.get("role", "")).lower())
        return _LANGCHAIN_ROLES.get(str(name).lower())
    if isinstance(item.get("role"), str):
        return ROLE_ALIASES.get(item["role"].strip().lower())
    kind = item.get("type")
    if isinstance(kind, str):
        return _LANGCHAIN_ROLES.get(kind.lower())
    return default


def _message_segments(item: dict, default: Role) -> list[tuple[Role, str]]:
    role = message_role(item, default)
    if role is None:
        return []
    body = item.get("kwargs") if item.get("lc") == 1 else item
    if not isinstance(body, dict):
        return []
    content = body.get("parts", body.get("content"))
    if _is_tool_definition(content):
        return []  # Langfuse's LangChain integration logs the tools offered as "tool" messages
    if isinstance(content, str):
        segments = [(role, content)]
    elif isinstance(content, list):
        # A tool's answer may be a list of records (search results): kept as JSON.
        segments = _parts(content, role) or ([(role, json.dumps(content, ensure_ascii=False))] if content else [])
    elif isinstance(content, dict):
        segments = [(role, json.dumps(content, ensure_ascii=False))]
    else:
        segments = []
    extra = mapping(body.get("additional_kwargs"))
    calls = body.get("tool_calls") or extra.get("tool_calls") or []
    if body.get("function_call"):
        calls = [*calls, body["function_call"]]
    segments.extend(("assistant", call_text(call)) for call in calls if isinstance(call, dict))
    return segments


def _is_tool_definition(content: Any) -> bool:
    function = content.get("function") if isinstance(content, dict) else None
    return isinstance(function, dict) and content.get("type") == "function" and "parameters" in function


def _parts(parts: list, role: Role) -> list[tuple[Role, str]]:
    """Content parts of OpenAI, Anthropic or OpenTelemetry messages as (role, text) segments."""
    segments: list[tuple[Role, str]] = []
    for part in parts:
        if isinstance(part, str):
            segments.append((role, part))
            continue
        if not isinstance(part, dict):
            continue
        kind = str(part.get("type", "text"))
        if kind in _REASONING:
            continue  # the model's private reasoning is not part of the dialogue
        if kind in ("tool_use", "tool_result"):
            segments.extend(block_segments(part, role))
        elif kind == "tool_call":
            segments.append(("assistant", call_text(part)))
        elif kind == "tool_call_response":
            result = part.get("response", part.get("result"))
            shown = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
            segments.append(("tool", f"[tool result: {part.get('name') or 'tool'}]\n{shown}"))
        elif isinstance(part.get("text"), str):
            segments.append((role, part["text"]))
        elif kind == "text" and isinstance(part.get("content"), str):
            segments.append((role, part["content"]))  # OpenTelemetry's text part
        elif kind == "refusal" and isinstance(part.get("refusal"), str):
            segments.append((role, part["refusal"]))
        elif kind in _MEDIA:
            modality = part.get("modality") or kind.replace("input_", "").replace("_url", "")
            segments.append((role, f"[{modality}]"))
    return segments
