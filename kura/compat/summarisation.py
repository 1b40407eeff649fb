"""Kura 0.5's ``kura.summarisation``: the summarise stage as one procedural call."""

from __future__ import annotations

import warnings
from abc import ABC
from typing import Any

from kura.compat.cache import CacheStrategy
from kura.compat.checkpoints.base import BaseCheckpointManager
from kura.compat.seams import Kura05Summariser
from kura.llm.prompts import DEFAULT_SUMMARY_PROMPT
from kura.llm.registry import get_llm
from kura.llm.summariser import LLMSummariser
from kura.stages.summarise import ExtractiveSummariser, Summariser, summarise_stream
from kura.store.meta import Failure
from kura.types import Conversation, ConversationSummary, GeneratedSummary


class BaseSummaryModel(Kura05Summariser, Summariser, ABC):
    """Kura 0.5's summariser seam: Kura's ``Summariser`` with the 0.5 ``summarise``."""


class ExtractiveSummaryModel(Kura05Summariser, ExtractiveSummariser):
    """The offline summariser under a Kura-style name."""


class SummaryModel(LLMSummariser):
    """Kura 0.5's language-model summariser, on Kura's providers (no instructor needed).

    ``model`` is a model string such as ``openai/gpt-4o-mini`` (see ``kura.llm``). Nothing is
    checked until the first call: a missing key is then one line naming the variable to set.
    """

    def __init__(
        self,
        model: str = "openai/gpt-4o-mini",
        max_concurrent_requests: int = 50,
        checkpoint_filename: str = "summaries",
        console: Any = None,
        cache: CacheStrategy | None = None,
    ):
        super().__init__(get_llm(model, max_concurrency=max_concurrent_requests))
        self.checkpoint_filename = checkpoint_filename
        self.model = model
        self.max_concurrent_requests = max_concurrent_requests
        self.console = console
        self.cache = cache

    async def summarise(
        self,
        conversations: list[Conversation],
        prompt: str = DEFAULT_SUMMARY_PROMPT,
        *,
        response_schema: type[GeneratedSummary] = GeneratedSummary,
        temperature: float = 0.2,
        **kwargs: Any,
    ) -> list[ConversationSummary]:
        """Every conversation that could be summarised, in order; the others are named in a warning.

        Extra fields of ``response_schema`` land in each summary's metadata (Kura 0.5).
        """
        configured = self.with_settings(
            prompt=None if prompt == DEFAULT_SUMMARY_PROMPT else prompt,
            response_schema=response_schema,
            temperature=temperature,
        )
        self.llm.check()
        failures: list[Failure] = []
        cache = _StrategyCache(self.cache) if self.cache is not None else None
        summaries = await summarise_stream(conversations, configured, cache=cache, failures=failures)  # type: ignore[arg-type]
        _warn_failures(failures, len(conversations))
        return summaries


class _StrategyCache:
    """A Kura 0.5 ``CacheStrategy`` behind the summarise engine's item-cache calls."""

    def __init__(self, strategy: CacheStrategy):
        self.strategy = strategy

    def get_text(self, ns: str, key: str) -> str | None:
        return self.strategy.get(f"{ns}:{key}")

    def put_text(self, ns: str, key: str, value: str) -> None:
        self.strategy.set(f"{ns}:{key}", value)


def _warn_failures(failures: list[Failure], total: int) -> None:
    if failures:
        shown = "; ".join(f"{f['id']}: {f['error']}" for f in failures[:3])
        warnings.warn(f"{len(failures)} of {total} conversations failed to summarise: {shown}", stacklevel=3)


async def summarise_conversations(
    conversations: list[Conversation],
    *,
    model: Any,
    response_schema: type[GeneratedSummary] = GeneratedSummary,
    checkpoint_manager: BaseCheckpointManager | None = None,
    **kwargs: Any,
) -> list[ConversationSummary]:
    """Summarise every conversation with ``model`` (a Kura summariser or a Kura 0.5 model).

    Conversations that fail are reported in a warning naming them, never silently dropped.
    """
    filename = getattr(model, "checkpoint_filename", "summaries")
    if checkpoint_manager:
        cached = checkpoint_manager.load_checkpoint(filename, ConversationSummary)
        if cached:
            return cached
    if isinstance(model, Summariser):
        failures: list[Failure] = []
        if isinstance(model, LLMSummariser) and response_schema is not GeneratedSummary:
            model = model.with_settings(response_schema=response_schema)
        summaries = await summarise_stream(conversations, model, failures=failures)
        _warn_failures(failures, len(conversations))
    else:
        summaries = await model.summarise(conversations, response_schema=response_schema, **kwargs)
    if checkpoint_manager:
        checkpoint_manager.save_checkpoint(filename, summaries)
    return summaries


__all__ = [
    "BaseSummaryModel",
    "DEFAULT_SUMMARY_PROMPT",
    "ExtractiveSummaryModel",
    "SummaryModel",
    "summarise_conversations",
]
