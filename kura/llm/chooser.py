"""Choosing a cluster among the embedding's shortlist with a language model (``kura classify --llm``).

The ``top_k`` nearest clusters go to the model with each one's name, description and a few
typical member requests; the model picks one, or says that none fits (the conversation is then
possibly new). The seam retries failed requests and invalid answers; a call that still fails is
raised to the caller, which records it and keeps the embedding's choice.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from pydantic import BaseModel, Field, create_model

from kura.llm.base import LLM
from kura.llm.prompts import classify_messages
from kura.llm.registry import get_llm
from kura.runner.params import Component


class ClusterChoice(BaseModel):
    choice: int = Field(ge=1, description="the number of the best-fitting cluster")
    none_fit: bool = Field(default=False, description="true only if no cluster fits at all")


@functools.lru_cache(maxsize=32)
def choice_model(count: int) -> type[ClusterChoice]:
    """``ClusterChoice`` whose ``choice`` is at most ``count``: a number outside the list goes back
    to the model as a validation error instead of being guessed at."""
    return create_model(
        "ClusterChoice",
        __base__=ClusterChoice,
        choice=(int, Field(ge=1, le=count, description="the number of the best-fitting cluster")),
    )


#: A candidate as the model sees it: name, description, typical member requests.
Candidate = tuple[str, str, Sequence[str]]


class LLMClusterChooser(Component):
    uses_llm = True

    def __init__(
        self, llm: str | LLM = "openai/gpt-4o-mini", *, temperature: float = 0.0, max_output_tokens: int = 100
    ):
        self.llm = get_llm(llm)
        self.temperature = temperature
        self.max_output_tokens = max_output_tokens

    @property
    def name(self) -> str:
        return f"llm-chooser:v1:{self.llm.identity}"

    async def choose(self, request: str, candidates: Sequence[Candidate]) -> int | None:
        """The index of the chosen candidate, or None when the model says none fits."""
        answer = await self.llm.generate(
            classify_messages(request, candidates),
            choice_model(len(candidates)),
            stage="classify",
            temperature=self.temperature,
            max_tokens=self.max_output_tokens,
        )
        return None if answer.none_fit else answer.choice - 1
