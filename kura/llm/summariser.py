"""Clio's facets from a language model: the ``Summariser`` seam filled by any provider.

The engine around it (``kura.stages.summarise``) streams, windows the concurrency, caches each
summary by content and settings, and records failures; this class only builds the prompt and
asks. Extra fields of a custom ``response_schema`` land in the summary's metadata (Kura 0.5).
"""

from __future__ import annotations

import functools
from typing import Any

from kura.llm.base import LLM
from kura.llm.prompts import summary_messages
from kura.llm.registry import get_llm
from kura.llm.schema import cap_lengths, response_schema
from kura.stages.summarise import Summariser
from kura.store.cache import content_key
from kura.types import Conversation, GeneratedSummary

#: Characters per token assumed when cutting transcripts: deliberately low (real English is about
#: four) so that code and non-Latin text, which tokenise densely, still fit.
CHARS_PER_TOKEN = 3


class LLMSummariser(Summariser):
    """Summarise with ``llm`` (a model string like ``openai/gpt-4o-mini`` or an ``LLM``).

    ``prompt`` replaces the instruction that follows the transcript (or, written as a Jinja
    template, the whole user message); ``max_input_tokens`` bounds the transcript, cut in the
    middle when longer (see ``kura.llm.prompts``).
    """

    uses_llm = True

    def __init__(
        self,
        llm: str | LLM = "openai/gpt-4o-mini",
        *,
        prompt: str | None = None,
        response_schema: type[GeneratedSummary] = GeneratedSummary,
        temperature: float = 0.2,
        max_input_tokens: int = 8000,
        max_output_tokens: int = 600,
    ):
        self.llm = get_llm(llm)
        self.prompt = prompt
        self.response_schema = response_schema
        self.temperature = temperature
        self.max_input_tokens = max_input_tokens
        self.max_output_tokens = max_output_tokens

    @property
    def max_concurrency(self) -> int:  # type: ignore[override]
        return self.llm.max_concurrency

    @property
    def name(self) -> str:
        # Asked once per conversation (the engine's cache key), so worth memoising.
        return _name(
            self.llm.identity,
            self.prompt,
            self.response_schema,
            self.temperature,
            self.max_input_tokens,
            self.max_output_tokens,
        )

    def input_chars(self) -> int:
        """The transcript budget in characters (smaller when the model's context is small)."""
        tokens = self.max_input_tokens
        if self.llm.context_tokens:
            # Room for the reply and about 600 tokens of system prompt and instruction.
            tokens = min(tokens, self.llm.context_tokens - self.max_output_tokens - 600)
        return max(200, tokens * CHARS_PER_TOKEN)

    def messages(self, conversation: Conversation) -> list[dict[str, str]]:
        extra = [f for f in self.response_schema.model_fields if f not in GeneratedSummary.model_fields]
        return summary_messages(conversation, self.prompt, self.input_chars(), extra)

    async def summarise_one(self, conversation: Conversation) -> GeneratedSummary:
        if not conversation.messages:
            raise ValueError("the conversation has no messages to summarise")
        return await self.llm.generate(
            self.messages(conversation),
            self.response_schema,
            stage="summarise",
            temperature=self.temperature,
            max_tokens=self.max_output_tokens,
            schema=_capped(self.response_schema),
            use_cache=False,  # the summarise engine caches per conversation already
        )

    def with_settings(self, **changes: Any) -> LLMSummariser:
        """A copy with some settings changed (Kura 0.5 passes prompt and schema per call)."""
        clone = object.__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.__dict__.update(changes)
        return clone


@functools.lru_cache(maxsize=64)
def _capped(schema: type[GeneratedSummary]) -> dict[str, Any]:
    """The schema sent to the model: string lengths capped so small models cannot ramble."""
    return cap_lengths(response_schema(schema), max_length=400, max_items=8)


@functools.lru_cache(maxsize=64)
def _name(
    identity: str, prompt: str | None, schema: type[GeneratedSummary], temperature: float, max_in: int, max_out: int
) -> str:
    settings = content_key(prompt, response_schema(schema), temperature, max_in, max_out)
    return f"llm-summary:v1:{identity}:{settings[:16]}"
