"""OpenAI and every server that speaks its chat-completions API: vLLM, Ollama, llama.cpp's
server, LM Studio, OpenRouter... and Azure OpenAI (azure.py builds on this).

Structured output asks for ``response_format: json_schema`` (strict). A server that rejects it
with a 400 is asked again with JSON mode and the schema in the prompt, and failing that with the
schema in the prompt alone; the downgrade is remembered for the rest of the run.
"""

from __future__ import annotations

import re
from typing import Any

from kura.llm.base import LLM, ChatMessage, Completion, OutputSchema, estimate_tokens
from kura.llm.config import env
from kura.llm.errors import ProviderError
from kura.llm.http import JSONClient
from kura.llm.retry import RetryPolicy
from kura.llm.schema import openai_strict, schema_instruction

OPENAI_URL = "https://api.openai.com/v1"
STRUCTURED_MODES = ("json_schema", "json_object", "prompt")


class OpenAICompatibleLLM(LLM):
    """Chat completions over HTTP. ``base_url`` defaults to ``$OPENAI_BASE_URL`` or OpenAI's API.

    The key comes from ``api_key`` or the variable ``api_key_env``; it is required for OpenAI's
    own API and sent only when present elsewhere (local servers need none).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        provider: str = "openai",
        key_required: bool | None = None,
        structured: str = "json_schema",
        timeout: float = 120.0,
        max_concurrency: int = 50,
        retry: RetryPolicy | None = None,
        validation_retries: int = 2,
        extra_body: dict[str, Any] | None = None,
    ):
        super().__init__(model, max_concurrency=max_concurrency, retry=retry, validation_retries=validation_retries)
        self.provider = provider
        self.base_url = base_url
        self.api_key = api_key
        self.api_key_env = api_key_env
        self.key_required = key_required
        self.structured = structured
        self.timeout = timeout
        self.extra_body = extra_body or {}
        self._mode: str | None = None
        self._http: JSONClient | None = None
        # Strict versions of the schemas seen, by identity: callers reuse one schema object per
        # stage, and rewriting it for every request costs more than the request's own CPU.
        self._strict: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}

    # -- configuration, resolved on first use -----------------------------------------------------
    @property
    def url(self) -> str:
        return (self.base_url or env("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")

    @property
    def identity(self) -> str:
        return f"{self.name}@{self.url}"

    def key(self) -> str | None:
        key = self.api_key or env(self.api_key_env)
        required = self.key_required if self.key_required is not None else self.url == OPENAI_URL
        if key is None and required:
            from kura.errors import ConfigError

            raise ConfigError(
                f"{self.name} needs an API key: set the environment variable {self.api_key_env} (or put it in .env)"
            )
        return key

    def secrets(self) -> list[str | None]:
        return [self.api_key or env(self.api_key_env)]

    def endpoint(self) -> str:
        return f"{self.url}/chat/completions"

    def check(self) -> None:
        self.headers()
        self.endpoint()
        self._client()

    def headers(self) -> dict[str, str]:
        key = self.key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _client(self) -> JSONClient:
        if self._http is None:
            if self.structured not in STRUCTURED_MODES:
                from kura.errors import ConfigError

                raise ConfigError(
                    f"structured={self.structured!r} is unknown: use one of {', '.join(STRUCTURED_MODES)}"
                )
            self._http = JSONClient(
                timeout=self.timeout, max_connections=max(1, self.max_concurrency), secrets=self.secrets()
            )
        return self._http

    # -- one request ------------------------------------------------------------------------------
    async def complete(
        self, messages: list[ChatMessage], schema: OutputSchema, *, temperature: float, max_tokens: int
    ) -> Completion:
        client = self._client()
        headers = self.headers()
        mode = self._mode or self.structured
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages if mode == "json_schema" else _with_schema(messages, schema),
            "temperature": temperature,
            self._max_tokens_field(): max_tokens,
            **self.extra_body,
        }
        if mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": _schema_name(schema.name),
                    "schema": self._strict_schema(schema.schema),
                    "strict": True,
                },
            }
        elif mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        try:
            data = await client.post(self.endpoint(), body, headers)
        except ProviderError as exc:
            if exc.status in (400, 422) and mode != "prompt" and _about_format(str(exc)):
                self._mode = STRUCTURED_MODES[STRUCTURED_MODES.index(mode) + 1]
                return await self.complete(messages, schema, temperature=temperature, max_tokens=max_tokens)
            raise
        return _completion(data, messages)

    def _strict_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        seen = self._strict.get(id(schema))
        if seen is None or seen[0] is not schema:
            if len(self._strict) > 256:
                self._strict.clear()
            seen = self._strict[id(schema)] = (schema, openai_strict(schema))
        return seen[1]

    def _max_tokens_field(self) -> str:
        # OpenAI's newer models accept only max_completion_tokens; most other servers only max_tokens.
        return "max_completion_tokens" if self.url == OPENAI_URL else "max_tokens"

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()


def _with_schema(messages: list[ChatMessage], schema: OutputSchema) -> list[ChatMessage]:
    out = [dict(m) for m in messages]
    out[-1]["content"] = f"{out[-1]['content']}\n\n{schema_instruction(schema.schema)}"
    return out


def _schema_name(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_-]", "_", name)[:64] or "response"


def _about_format(message: str) -> bool:
    return bool(re.search(r"response_format|json_schema|json_object|schema|structured", message, re.I))


def _completion(data: dict[str, Any], messages: list[ChatMessage]) -> Completion:
    try:
        message = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise ProviderError("the response has no choices[0].message", retryable=True, kind="body") from None
    text = message.get("content") or message.get("refusal") or ""
    usage = data.get("usage") or {}
    return Completion(
        text=text,
        input_tokens=int(usage.get("prompt_tokens") or estimate_tokens("".join(m["content"] for m in messages))),
        output_tokens=int(usage.get("completion_tokens") or estimate_tokens(text)),
    )
