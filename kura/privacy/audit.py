"""The privacy auditor: a language model rates each cluster for identifying content, as Clio does.

Each cluster goes to the model with its name, its description and a sample of its most typical
summaries; the model answers with a rating from 1 (identifies someone) to 5 (nothing personal)
and a short reason. Clusters rated below the threshold (3 by default) are withheld by the
hierarchy stage (``kura.privacy.report.audit_tree``). A cluster whose audit fails after the
seam's retries is withheld too and counted as failed: an unrated cluster is never shown.

Typed placeholders (``[NAME]``, ``[EMAIL]``...) mean the scrubber already removed a detail, so
the prompt tells the model not to count them; what the auditor is for is what scrubbing cannot
see: a rare job at a named small firm, a unique event, a combination that points at one person.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from kura.llm.base import LLM
from kura.llm.errors import LLMError
from kura.llm.prompts import audit_messages
from kura.llm.registry import get_llm
from kura.runner.params import Component


class ClusterRating(BaseModel):
    """The model's answer: reason first, so a small model thinks before it rates."""

    reason: str = Field(max_length=200, description="what, if anything, could identify someone")
    rating: int = Field(ge=1, le=5, description="1 identifies someone ... 5 nothing personal")


@dataclass(frozen=True)
class AuditItem:
    """What the auditor sees of a cluster."""

    cluster_id: str
    name: str
    description: str
    summaries: Sequence[str]


@dataclass(frozen=True)
class AuditResult:
    cluster_id: str
    #: 1-5, or None when the audit failed.
    rating: int | None
    #: Why the audit failed (the seam's error, keys redacted), or None.
    error: str | None
    #: Rated below the threshold, or not rated at all: the cluster is not shown.
    withheld: bool


class PrivacyAuditor(Component):
    """Rates clusters with ``llm``; those rated below ``threshold`` are withheld."""

    uses_llm = True

    def __init__(
        self,
        llm: str | LLM = "openai/gpt-4o-mini",
        *,
        threshold: int = 3,
        samples: int = 5,
        temperature: float = 0.0,
        max_output_tokens: int = 120,
    ):
        if not 1 <= threshold <= 5:
            raise ValueError(f"the audit threshold must be 1 to 5, not {threshold}")
        self.llm = get_llm(llm)
        self.threshold = threshold
        #: Summaries shown per cluster (the most typical ones): more cost more, and Clio's
        #: auditor reads a sample too.
        self.samples = samples
        self.temperature = temperature
        self.max_output_tokens = max_output_tokens

    @property
    def name(self) -> str:
        return f"privacy-auditor:v1:{self.llm.identity}"

    async def rate(self, item: AuditItem) -> ClusterRating:
        return await self.llm.generate(
            audit_messages(item.name, item.description, item.summaries),
            ClusterRating,
            stage="audit",
            temperature=self.temperature,
            max_tokens=self.max_output_tokens,
        )

    async def audit(self, items: Sequence[AuditItem]) -> list[AuditResult]:
        """Every item rated (in the seam's concurrency); a failure is a result, not an exception."""

        async def one(item: AuditItem) -> AuditResult:
            try:
                answer = await self.rate(item)
            except LLMError as exc:
                return AuditResult(item.cluster_id, None, str(exc), withheld=True)
            return AuditResult(item.cluster_id, answer.rating, None, withheld=answer.rating < self.threshold)

        return list(await asyncio.gather(*(one(item) for item in items)))
