"""Anthropic's Messages API. Structured output by forced tool use: the model must call one tool
whose input schema is the response model, and the tool input is the answer."""

from __future__ import annotations

import json
from typing import Any

from kura.llm.base import ChatMessage, Completion, OutputSchema, estimate_tokens
from kura.llm.errors import ProviderError
from kura.llm.http import KeyedRESTLLM
from kura.llm.schema import inline_refs

ANTHROPIC_URL = "https://api.anthropic.com/v1"
API_VERSION = "2023-06-01"


class AnthropicLLM(KeyedRESTLLM):
    provider = "anthropic"
    default_url = ANTHROPIC_URL
    url_env = "ANTHROPIC_BASE_URL"
    key_envs = ("ANTHROPIC_API_KEY",)

    async def complete(
        self, messages: list[ChatMessage], schema: OutputSchema, *, temperature: float, max_tokens: int
    ) -> Completion:
        headers = {"x-api-key": self._key(), "anthropic-version": API_VERSION}
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        tool = {
            "name": "answer",
            "description": f"Record the answer as a {schema.name}.",
            "input_schema": inline_refs(schema.schema),
        }
        body: dict[str, Any] = {
            "model": self.model,
            "max_tokens": max_tokens,
            "temperature": temperature,
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages if m["role"] != "system"],
            "tools": [tool],
            "tool_choice": {"type": "tool", "name": "answer"},
        }
        if system:
            body["system"] = system
        data = await self._client().post(f"{self.url}/messages", body, headers)
        blocks = data.get("content")
        if not isinstance(blocks, list):
            raise ProviderError("the response has no content blocks", retryable=True, kind="body")
        tool_input = next((b.get("input") for b in blocks if b.get("type") == "tool_use"), None)
        text = json.dumps(tool_input) if tool_input is not None else "".join(b.get("text", "") for b in blocks)
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            input_tokens=int(usage.get("input_tokens") or estimate_tokens("".join(m["content"] for m in messages))),
            output_tokens=int(usage.get("output_tokens") or estimate_tokens(text)),
        )
