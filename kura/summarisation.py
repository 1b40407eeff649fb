"""Kura 0.5's ``kura.summarisation``: the summarise stage as one procedural call."""

from __future__ import annotations

import warnings
from typing import Any, Optional

from kura.checkpoints.base import BaseCheckpointManager
from kura.stages.summarise import ExtractiveSummariser, Summariser, summarise_stream
from kura.types import Conversation, ConversationSummary, GeneratedSummary

#: The offline summariser under a Kura-style name.
ExtractiveSummaryModel = ExtractiveSummariser
BaseSummaryModel = Summariser


async def summarise_conversations(
    conversations: list[Conversation],
    *,
    model: Any,
    response_schema: type[GeneratedSummary] = GeneratedSummary,
    checkpoint_manager: Optional[BaseCheckpointManager] = None,
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
        failures: list[dict] = []
        summaries = await summarise_stream(conversations, model, failures=failures)
        if failures:
            shown = "; ".join(f"{f['id']}: {f['error']}" for f in failures[:3])
            warnings.warn(f"{len(failures)} of {len(conversations)} conversations failed to summarise: {shown}", stacklevel=2)
    else:
        summaries = await model.summarise(conversations, response_schema=response_schema, **kwargs)
    if checkpoint_manager:
        checkpoint_manager.save_checkpoint(filename, summaries)
    return summaries


__all__ = ["BaseSummaryModel", "ExtractiveSummaryModel", "summarise_conversations"]
