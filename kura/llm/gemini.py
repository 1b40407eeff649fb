"""Google Gemini's generateContent API, with ``responseSchema`` for structured output."""

from __future__ import annotations

from typing import Any

from kura.llm.base import ChatMessage, Completion, OutputSchema, estimate_tokens
from kura.llm.errors import ProviderError
from kura.llm.http import KeyedRESTLLM
from kura.llm.schema import gemini_schema

GEMINI_URL = "https://generativelanguage.googleapis.com/v1beta"


class GeminiLLM(KeyedRESTLLM):
    provider = "gemini"
    default_url = GEMINI_URL
    url_env = "GEMINI_BASE_URL"
    key_envs = ("GEMINI_API_KEY", "GOOGLE_API_KEY")

    async def complete(
        self, messages: list[ChatMessage], schema: OutputSchema, *, temperature: float, max_tokens: int
    ) -> Completion:
        headers = {"x-goog-api-key": self._key()}
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
        data = await self._client().post(f"{self.url}/models/{self.model}:generateContent", body, headers)
        try:
            parts = data["candidates"][0]["content"]["parts"]
        except (KeyError, IndexError, TypeError):
            reason = (data.get("promptFeedback") or {}).get("blockReason")
            if reason:  # blocked by safety filters: asking again gives the same answer
                raise ProviderError(f"Gemini blocked the prompt ({reason})", retryable=False, kind="body") from None
            raise ProviderError(
                "the response has no candidates[0].content.parts", retryable=True, kind="body"
            ) from None
        text = "".join(p.get("text", "") for p in parts)
        usage = data.get("usageMetadata") or {}
        return Completion(
            text=text,
            input_tokens=int(usage.get("promptTokenCount") or estimate_tokens("".join(m["content"] for m in messages))),
            output_tokens=int(usage.get("candidatesTokenCount") or estimate_tokens(text)),
        )
