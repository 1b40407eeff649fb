"""Google Gemini's generateContent API, with ``responseSchema`` for structured output."""

from __future__ import annotations

from typing import Any, Optional

from kura.llm.base import LLM, ChatMessage, Completion, OutputSchema, estimate_tokens
from kura.llm.config import env
from kura.llm.errors import ProviderError
from kura.llm.http import JSONClient
from kura.llm.retry import RetryPolicy
from kura.llm.schema import gemini_schema

GEMINI_URL = "https://generativelanguage.googleapis.com/v1beta"


class GeminiLLM(LLM):
    provider = "gemini"

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
        return (self.base_url or env("GEMINI_BASE_URL") or GEMINI_URL).rstrip("/")

    @property
    def identity(self) -> str:
        return f"{self.name}@{self.url}"

    def secrets(self) -> list[Optional[str]]:
        return [self.api_key or env("GEMINI_API_KEY") or env("GOOGLE_API_KEY")]

    def _key(self) -> str:
        key = self.api_key or env("GEMINI_API_KEY") or env("GOOGLE_API_KEY")
        if key is None:
            from kura.errors import ConfigError

            raise ConfigError(f"{self.name} needs an API key: set the environment variable GEMINI_API_KEY (or put it in .env)")
        return key

    def check(self) -> None:
        self._key()

    async def complete(
        self, messages: list[ChatMessage], schema: OutputSchema, *, temperature: float, max_tokens: int
    ) -> Completion:
        headers = {"x-goog-api-key": self._key()}
        if self._http is None:
            self._http = JSONClient(timeout=self.timeout, max_connections=max(1, self.max_concurrency), secrets=self.secrets())
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        body: dict[str, Any] = {
            "contents": [
                {"role": "model" if m["role"] == "assistant" else "user", "parts": [{"text": m["content"]}]}
                for m in messages
                if m["role"] != "system"
            ],
            "generationConfig": {
                "temperature": temperature,
                "maxOutputTokens": max_tokens,
                "responseMimeType": "application/json",
                "responseSchema": gemini_schema(schema.schema),
            },
        }
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        data = await self._http.post(f"{self.url}/models/{self.model}:generateContent", body, headers)
        try:
            parts = data["candidates"][0]["content"]["parts"]
        except (KeyError, IndexError, TypeError):
            reason = (data.get("promptFeedback") or {}).get("blockReason")
            if reason:  # blocked by safety filters: asking again gives the same answer
                raise ProviderError(f"Gemini blocked the prompt ({reason})", retryable=False, kind="body") from None
            raise ProviderError("the response has no candidates[0].content.parts", retryable=True, kind="body") from None
        text = "".join(p.get("text", "") for p in parts)
        usage = data.get("usageMetadata") or {}
        return Completion(
            text=text,
            input_tokens=int(usage.get("promptTokenCount") or estimate_tokens("".join(m["content"] for m in messages))),
            output_tokens=int(usage.get("candidatesTokenCount") or estimate_tokens(text)),
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
