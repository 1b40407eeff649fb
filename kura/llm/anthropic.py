"""Anthropic's Messages API. Structured output by forced tool use: the model must call one tool
whose input schema is the response model, and the tool input is the answer."""

from __future__ import annotations

import json
from typing import Any, Optional

from kura.llm.base import LLM, ChatMessage, Completion, OutputSchema, estimate_tokens
from kura.llm.config import env
from kura.llm.errors import ProviderError
from kura.llm.http import JSONClient
from kura.llm.retry import RetryPolicy
from kura.llm.schema import inline_refs

ANTHROPIC_URL = "https://api.anthropic.com/v1"
API_VERSION = "2023-06-01"


class AnthropicLLM(LLM):
    provider = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        timeout: float = 120.0,
        max_concurrency: int = 50,
        retry: Optional[RetryPolicy] = None,
        validation_retries: int = 2,
    ):
        super().__init__(model, max_concurrency=max_concurrency, retry=retry, validation_retries=validation_retries)
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self._http: Optional[JSONClient] = None

    @property
    def url(self) -> str:
        return (self.base_url or env("ANTHROPIC_BASE_URL") or ANTHROPIC_URL).rstrip("/")

    @property
    def identity(self) -> str:
        return f"{self.name}@{self.url}"

    def secrets(self) -> list[Optional[str]]:
        return [self.api_key or env("ANTHROPIC_API_KEY")]

    def _key(self) -> str:
        key = self.api_key or env("ANTHROPIC_API_KEY")
        if key is None:
            from kura.errors import ConfigError

            raise ConfigError(f"{self.name} needs an API key: set the environment variable ANTHROPIC_API_KEY (or put it in .env)")
        return key

    def check(self) -> None:
        self._key()

    async def complete(
        self, messages: list[ChatMessage], schema: OutputSchema, *, temperature: float, max_tokens: int
    ) -> Completion:
        headers = {"x-api-key": self._key(), "anthropic-version": API_VERSION}
        if self._http is None:
            self._http = JSONClient(timeout=self.timeout, max_connections=max(1, self.max_concurrency), secrets=self.secrets())
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        tool = {"name": "answer", "description": f"Record the answer as a {schema.name}.", "input_schema": inline_refs(schema.schema)}
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
        data = await self._http.post(f"{self.url}/messages", body, headers)
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

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
