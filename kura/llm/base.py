"""The language-model seam: messages and a pydantic response model in, a validated instance out.

    LLM.generate(messages, ResponseModel, stage=...)
      1. the cache (the run directory's ItemCache, namespace "llm"), keyed by everything that
         changes the answer: backend identity, model, messages, schema, temperature, token limit
      2. the concurrency limit (``max_concurrency`` requests in flight)
      3. ``complete`` - the one method a provider implements - with retries (retry.py)
      4. the reply parsed and validated; on failure the model is asked again with the error
         shown to it (instructor's idea), ``validation_retries`` times
      5. tokens counted per stage (usage.py)

Providers register in ``kura.llm.registry`` and are picked by a model string like
``openai/gpt-4o-mini``; the test fake registers through the same door (``fake/...``).
"""

from __future__ import annotations

import asyncio
import math
import random
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from kura.llm.errors import InvalidOutputError, LLMError, ProviderError, redact
from kura.llm.retry import RetryPolicy, with_retries
from kura.llm.schema import parse_json_reply, response_schema
from kura.llm.usage import UsageMeter
from kura.store.cache import ItemCache, content_key

M = TypeVar("M", bound=BaseModel)

#: ``{"role": "system" | "user" | "assistant", "content": "..."}``
ChatMessage = dict[str, str]

CACHE_NAMESPACE = "llm"


@dataclass
class OutputSchema:
    """What a provider needs for structured output: a name and a JSON schema (refs inlined)."""

    name: str
    schema: dict[str, Any]


@dataclass
class Completion:
    """A provider's raw answer. Token counts are the provider's own when it reports them."""

    text: str
    input_tokens: int = 0
    output_tokens: int = 0


def estimate_tokens(text: str) -> int:
    """About four characters per token: the usual rule of thumb for English with BPE tokenisers."""
    return math.ceil(len(text) / 4)


class LLM(ABC):
    """A chat model with structured output. Subclasses implement ``complete`` (and ``identity``
    when something beyond provider and model, such as a server URL, changes the answers)."""

    provider: str = "llm"
    #: The model's context window in tokens when it is small enough to matter (local models);
    #: prompts are cut to fit it.
    context_tokens: int | None = None
    #: Whether ``--privacy strict`` may audit clusters with this model without being asked
    #: (``--auditor``): false where the privacy auditor's benchmark measured it near chance.
    audits_unasked: bool = True

    def __init__(
        self,
        model: str,
        *,
        max_concurrency: int = 50,
        retry: RetryPolicy | None = None,
        validation_retries: int = 2,
        breaker: int = 50,
    ):
        self.model = model
        self.max_concurrency = max_concurrency
        self.retry = retry or RetryPolicy()
        self.validation_retries = validation_retries
        #: After this many connection failures in a row, calls stop retrying (the server is down):
        #: items fail fast, are recorded, and the next run retries them.
        self.breaker = breaker
        self.usage = UsageMeter()
        self._cache: ItemCache | None = None
        self._limits: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._connect_failures = 0
        self._rng = random.Random()

    # -- what a provider implements -------------------------------------------------------------
    @abstractmethod
    async def complete(
        self, messages: list[ChatMessage], schema: OutputSchema, *, temperature: float, max_tokens: int
    ) -> Completion:
        """One request. Raise ``ProviderError`` (``retryable`` for 429/5xx/timeouts) on failure."""

    @property
    def name(self) -> str:
        """``provider/model``: what the output says ran."""
        return f"{self.provider}/{self.model}"

    def fingerprint_parts(self) -> str:
        """What a stage fingerprint needs of this model (kura.runner.params)."""
        return self.identity

    @property
    def identity(self) -> str:
        """Everything about the backend that changes its answers: part of every cache key."""
        return self.name

    def secrets(self) -> list[str | None]:
        """Values that must never appear in an error message (API keys)."""
        return []

    def check(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Raise ``ConfigError`` now if a key or package is missing (no request is made), so a
        run stops with one clear line instead of failing every item the same way."""

    async def aclose(self) -> None:  # noqa: B027  (an optional hook, not abstract)
        """Release connections; the object stays usable."""

    # -- the common machinery -------------------------------------------------------------------
    def use_cache(self, cache: ItemCache | None) -> None:
        """Cache answers in ``cache`` (a run directory's), or stop caching with ``None``."""
        self._cache = cache

    async def generate(
        self,
        messages: list[ChatMessage],
        response_model: type[M],
        *,
        stage: str = "llm",
        temperature: float = 0.2,
        max_tokens: int = 1024,
        schema: dict[str, Any] | None = None,
        use_cache: bool = True,
    ) -> M:
        """A validated ``response_model`` instance for ``messages``.

        ``schema`` overrides the JSON schema sent to the provider (say, with length caps); the
        reply is always validated against ``response_model`` itself.
        """
        sent = OutputSchema(response_model.__name__, schema or response_schema(response_model))
        cache = self._cache if use_cache else None
        key = ""
        if cache is not None:
            key = content_key(
                "llm:v1", self.identity, messages, sent.schema, response_schema(response_model), temperature, max_tokens
            )
            hit = cache.get_text(CACHE_NAMESPACE, key)
            if hit is not None:
                try:
                    value = response_model.model_validate_json(hit)
                except ValidationError:
                    pass  # the model class changed since: ask again
                else:
                    self.usage.stage(stage).cached += 1
                    return value
        try:
            async with self._limit():
                value = await self._ask(messages, response_model, sent, stage, temperature, max_tokens)
        except LLMError as exc:
            self.usage.stage(stage).failures += 1
            exc.args = (redact(str(exc), self.secrets()),)
            raise
        if cache is not None:
            cache.put_text(CACHE_NAMESPACE, key, value.model_dump_json())
        return value

    async def _ask(
        self,
        messages: list[ChatMessage],
        response_model: type[M],
        sent: OutputSchema,
        stage: str,
        temperature: float,
        max_tokens: int,
    ) -> M:
        conversation = list(messages)
        problem = ""
        for attempt in range(self.validation_retries + 1):
            if attempt:
                self.usage.stage(stage).retries += 1
            completion = await self._complete_with_retries(conversation, sent, stage, temperature, max_tokens)
            try:
                return response_model.model_validate(parse_json_reply(completion.text))
            except (ValueError, ValidationError) as exc:
                problem = _explain(exc)
            # Show the model its own answer and what is wrong with it, then ask again.
            conversation = [
                *messages,
                {"role": "assistant", "content": completion.text[:4000]},
                {
                    "role": "user",
                    "content": f"That reply is invalid: {problem}. Reply again with only the corrected JSON object.",
                },
            ]
        raise InvalidOutputError(
            f"{self.name}: no valid {response_model.__name__} after {self.validation_retries + 1} answers: {problem}",
            attempts=self.validation_retries + 1,
        )

    async def _complete_with_retries(
        self, messages: list[ChatMessage], sent: OutputSchema, stage: str, temperature: float, max_tokens: int
    ) -> Completion:
        async def once() -> Completion:
            try:
                completion = await self.complete(messages, sent, temperature=temperature, max_tokens=max_tokens)
            except ProviderError as exc:
                self.usage.stage(stage).requests += 1
                if exc.kind == "connect":
                    self._connect_failures += 1
                raise
            self._connect_failures = 0
            self.usage.record_request(stage, completion.input_tokens, completion.output_tokens)
            return completion

        def on_retry(_: ProviderError) -> None:
            self.usage.stage(stage).retries += 1

        def give_up() -> str | None:
            if self._connect_failures >= self.breaker:
                return f"{self._connect_failures} connection failures in a row: the server looks down"
            return None

        return await with_retries(once, self.retry, on_retry=on_retry, give_up=give_up, rng=self._rng)

    def _limit(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        limit = self._limits.get(loop)
        if limit is None:
            limit = self._limits[loop] = asyncio.Semaphore(max(1, self.max_concurrency))
        return limit

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    # A copy sent to another process (an executor's worker, kura/runner/executor.py) carries the
    # settings, not what this process made: the run directory's cache stays here, and
    # semaphores belong to this process's event loops. The copy makes its own on first use.
    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_cache": None, "_limits": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _limits=weakref.WeakKeyDictionary())


def _explain(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()[:5]]
        return "; ".join(parts)
    return str(exc)
