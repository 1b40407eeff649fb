"""JSON schemas for structured output, and reading JSON out of a model's reply.

Pydantic writes the schema; each provider accepts a different dialect of it, so the rewrites
live here: references inlined, OpenAI's strict subset, Gemini's OpenAPI subset, and caps on
string lengths that keep small local models from rambling. Pydantic still validates the full
model afterwards, so a keyword dropped for a provider is never a constraint lost.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from typing import Any

from pydantic import BaseModel


@functools.lru_cache(maxsize=256)
def response_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with every ``$ref`` inlined (some providers reject references).

    Memoised - pydantic takes milliseconds to write a schema, and a run asks for it per item -
    so the result is shared: derive new schemas from it (as the functions here do), never edit it.
    """
    return inline_refs(model.model_json_schema())


def inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                target = walk(copy.deepcopy(defs[node["$ref"].split("/")[-1]]))
                extra = {k: walk(v) for k, v in node.items() if k != "$ref"}
                return {**target, **extra}
            return {k: walk(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def cap_lengths(schema: dict[str, Any], *, max_length: int, max_items: int) -> dict[str, Any]:
    """Add ``maxLength``/``maxItems`` where none is set. Constrained decoders (llama.cpp) obey them,
    which keeps a small model from looping inside a string until the token limit."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: walk(v) for k, v in node.items()}
            if node.get("type") == "string" and "enum" not in node:
                node.setdefault("maxLength", max_length)
            if node.get("type") == "array":
                node.setdefault("maxItems", max_items)
            return node
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


# OpenAI's strict mode: every property required, no extra properties, a subset of keywords.
_OPENAI_DROP = {"default", "title", "minLength", "maxLength", "format", "examples"}


def openai_strict(schema: dict[str, Any]) -> dict[str, Any]:
    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: walk(v) for k, v in node.items() if k not in _OPENAI_DROP}
            if node.get("type") == "object" and "properties" in node:
                node["required"] = list(node["properties"])
                node["additionalProperties"] = False
            return node
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(inline_refs(schema))


def require_all(schema: dict[str, Any]) -> dict[str, Any]:
    """Every property required: a constrained decoder then writes every facet instead of
    stopping after the required ones (small models take the shortest way out)."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: walk(v) for k, v in node.items()}
            if node.get("type") == "object" and "properties" in node:
                node["required"] = list(node["properties"])
            return node
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


# Gemini's responseSchema is an OpenAPI 3.0 subset: upper-case types, ``nullable`` instead of
# ``anyOf [..., null]``, and only these keywords.
_GEMINI_KEEP = {
    "type",
    "description",
    "enum",
    "properties",
    "required",
    "items",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "nullable",
    "propertyOrdering",
}


def gemini_schema(schema: dict[str, Any]) -> dict[str, Any]:
    def walk(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        options = node.get("anyOf")
        if options:
            kept = [o for o in options if o.get("type") != "null"]
            merged = {**kept[0], **{k: v for k, v in node.items() if k != "anyOf"}}
            if len(kept) < len(options):
                merged["nullable"] = True
            node = merged
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key not in _GEMINI_KEEP:
                continue
            if key == "enum" and node.get("type") == "integer":
                # Gemini takes enums of strings only: a range says the same for numbers.
                out["minimum"], out["maximum"] = min(value), max(value)
            elif key == "type":
                out[key] = str(value).upper()
            elif key == "properties":
                out[key] = {name: walk(sub) for name, sub in value.items()}
                out["propertyOrdering"] = list(value)
            elif key == "items":
                out[key] = walk(value)
            else:
                out[key] = value
        return out

    return walk(inline_refs(schema))


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def parse_json_reply(text: str) -> Any:
    """The JSON value in a reply: bare, fenced in ```json, or wrapped in a sentence of prose."""
    text = text.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    try:
        return json.loads(text)
    except json.JSONDecodeError as first_error:
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(text[start : end + 1])
            except json.JSONDecodeError:
                pass
        raise ValueError(f"the reply is not valid JSON ({first_error.msg} at character {first_error.pos})") from None


def schema_instruction(schema: dict[str, Any]) -> str:
    """For providers without structured output: the schema, stated in the prompt."""
    return "Reply with only a JSON object that matches this JSON schema:\n" + json.dumps(schema, ensure_ascii=False)
