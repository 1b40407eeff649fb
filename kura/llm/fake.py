"""A fake language model for tests: no network, deterministic, registered as ``fake/...``.

``FakeLLM`` answers from a script (a queue of replies, JSON values or exceptions, consumed in
order), then from ``responder`` if given, else by filling the requested JSON schema with phrases
taken from the prompt's data block - so summaries echo the user's request and cluster names echo
their members, and a whole pipeline run through it still has structure worth asserting on.

    fake/echo      schema-filling answers (the default)
    fake/invalid   answers that are never valid JSON (to test failure handling end to end)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel

from kura.llm.base import LLM, ChatMessage, Completion, OutputSchema, estimate_tokens
from kura.llm.retry import RetryPolicy

Reply = str | dict | list | BaseModel | BaseException
Responder = Callable[[list[ChatMessage], dict[str, Any]], Reply]


class FakeLLM(LLM):
    provider = "fake"

    def __init__(
        self,
        model: str = "echo",
        *,
        script: Iterable[Reply] = (),
        responder: Responder | None = None,
        delay: float = 0.0,
        max_concurrency: int = 50,
        retry: RetryPolicy | None = None,
        validation_retries: int = 2,
    ):
        super().__init__(
            model,
            max_concurrency=max_concurrency,
            retry=retry or RetryPolicy(base_delay=0.0),
            validation_retries=validation_retries,
        )
        self.script: deque[Reply] = deque(script)
        self.responder = responder
        self.delay = delay
        #: Every request's messages, in order: what tests assert on.
        self.calls: list[list[ChatMessage]] = []

    async def complete(
        self, messages: list[ChatMessage], schema: OutputSchema, *, temperature: float, max_tokens: int
    ) -> Completion:
        self.calls.append(messages)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.script:
            reply = self.script.popleft()
        elif self.responder is not None:
            reply = self.responder(messages, schema.schema)
        elif self.model == "invalid":
            reply = "I cannot answer in JSON."
        else:
            reply = fill_schema(schema.schema, messages)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, BaseModel):
            reply = reply.model_dump()
        text = reply if isinstance(reply, str) else json.dumps(reply)
        prompt = "".join(m["content"] for m in messages)
        return Completion(text=text, input_tokens=estimate_tokens(prompt), output_tokens=estimate_tokens(text))


_BLOCK = re.compile(r"<([a-z_]+)>\s*\n(.*?)\n\s*</\1>", re.S)
_LINE_PREFIX = re.compile(r"^\s*(?:[-*]|\d+[.)]|user:|assistant:|<[^>]+>)\s*", re.I)
_TAG = re.compile(r"</?[a-z_]+>")


def prompt_phrases(messages: list[ChatMessage]) -> list[str]:
    """Lines of the first data block (``<tag>\\n...\\n</tag>``) of the last user message."""
    text = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    block = _BLOCK.search(text)
    lines = (block.group(2) if block else text).splitlines()
    phrases = []
    for line in lines:
        line = _TAG.sub(" ", _LINE_PREFIX.sub("", line)).strip()
        if len(line.split()) >= 2:
            phrases.append(line)
    return phrases or ["general request"]


def fill_schema(schema: dict[str, Any], messages: list[ChatMessage]) -> Any:
    """A value valid for ``schema``, made of phrases from the prompt (deterministic)."""
    phrases = prompt_phrases(messages)
    counter = iter(range(1 << 30))

    def phrase(limit: int | None, words: int = 12) -> str:
        text = " ".join(phrases[next(counter) % len(phrases)].split()[:words])
        return text[:limit] if limit else text

    def value(node: dict[str, Any], field: str = "") -> Any:
        if "anyOf" in node:
            options = [o for o in node["anyOf"] if o.get("type") != "null"]
            return value(options[0], field) if options else None
        if "enum" in node:
            return node["enum"][0]
        kind = node.get("type")
        if kind == "object":
            return {name: value(sub, name) for name, sub in node.get("properties", {}).items()}
        if kind == "array":
            items = node.get("items", {})
            low, high = node.get("minItems", 1), node.get("maxItems", 3)
            count = max(low, min(high, 3))
            if items.get("type") == "integer" and low == high and ("enum" in items or "maximum" in items):
                # One choice per listed item (say, a category per cluster), stable per item text.
                return [_pick(items, phrases[j % len(phrases)]) for j in range(count)]
            return [value(items, field) for _ in range(count)]
        if kind == "string":
            if "slug" in field:
                return "_".join(re.findall(r"[a-z0-9]+", phrase(None).lower())[:3]) or "general_request"
            return phrase(node.get("maxLength"))
        if kind == "integer":
            return int(node.get("minimum", 1))
        if kind == "number":
            return float(node.get("minimum", 0.5))
        if kind == "boolean":
            return False
        return None

    return value(schema)


def _pick(node: dict[str, Any], text: str) -> int:
    digest = int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)
    if "enum" in node:
        return node["enum"][digest % len(node["enum"])]
    low, high = int(node.get("minimum", 1)), int(node.get("maximum", 1))
    return low + digest % max(1, high - low + 1)
