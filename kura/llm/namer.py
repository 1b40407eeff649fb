"""Cluster names from a language model (Clio): a capped sample of the cluster's summaries, most
typical first, plus contrastive summaries from the nearest other clusters.

One request per cluster. A cluster whose request still fails after every retry gets the offline
distinctive-terms name instead and is listed in ``failures``, so the run finishes and the next
run asks again (failures are never cached).
"""

from __future__ import annotations

import asyncio
import re

from pydantic import field_validator

from kura.llm.base import LLM
from kura.llm.errors import describe as describe_error
from kura.llm.prompts import cluster_messages, describe
from kura.llm.registry import get_llm
from kura.llm.schema import cap_lengths, response_schema
from kura.runner.failures import record_failure
from kura.stages.naming import ClusterGroup, ClusterNamer, DistinctiveTermsNamer, cluster_id
from kura.store.cache import content_key
from kura.types import GeneratedCluster


class LLMClusterNamer(ClusterNamer):
    uses_llm = True

    def __init__(
        self,
        llm: str | LLM = "openai/gpt-4o-mini",
        *,
        prompt: str | None = None,
        temperature: float = 0.2,
        max_examples: int = 20,
        max_contrastive: int = 10,
        max_output_tokens: int = 400,
        stage: str = "clusters",
    ):
        self.llm = get_llm(llm)
        self.prompt = prompt
        self.temperature = temperature
        self.max_examples = max_examples
        self.max_contrastive = max_contrastive
        self.max_output_tokens = max_output_tokens
        self.stage = stage

    @property
    def name(self) -> str:
        settings = content_key(
            self.prompt, self.temperature, self.max_examples, self.max_contrastive, self.max_output_tokens
        )
        return f"llm-namer:v2:{self.llm.identity}:{settings[:16]}"  # v2: names are checked (check_name)

    def messages(self, group: ClusterGroup) -> list[dict[str, str]]:
        # A parent cluster is described by its children's names; a base cluster by its summaries.
        texts = group.children if group.children else group.texts
        return cluster_messages(texts[: self.max_examples], group.contrastive[: self.max_contrastive], self.prompt)

    async def name_one(self, group: ClusterGroup) -> GeneratedCluster:
        named = await self.llm.generate(
            self.messages(group),
            ModelClusterName,
            stage=self.stage,
            temperature=self.temperature,
            max_tokens=self.max_output_tokens,
            schema=cap_lengths(response_schema(GeneratedCluster), max_length=300, max_items=5),
        )
        return tidy(named, named_by=self.llm.name)

    async def name_groups(self, groups: list[ClusterGroup]) -> list[GeneratedCluster]:
        answers = await asyncio.gather(*(self.name_one(g) for g in groups), return_exceptions=True)
        offline: list[GeneratedCluster] | None = None
        named: list[GeneratedCluster] = []
        for group, answer in zip(groups, answers):
            if isinstance(answer, BaseException):
                if not isinstance(answer, Exception):
                    raise answer  # KeyboardInterrupt, cancellation: not a naming failure
                if offline is None:
                    offline = offline_names(groups)
                record_failure(_group_id(group), self.stage, describe_error(answer))
                answer = offline[len(named)]
            named.append(answer)
        return named


#: Words a name may have: the prompts ask for at most ten; past this it is a paragraph.
MAX_NAME_WORDS = 14
_INSTRUCTION_ECHOES = ("imperative sentence", "at most ten words", "contrastive statements")


def check_name(name: str) -> str:
    """Reject a name a model could not have meant: empty, a paragraph, or the instructions
    themselves (small local models sometimes copy the prompt). The error goes back to the model."""
    words = name.split()
    if not words:
        raise ValueError("the name is empty: write a short imperative sentence such as 'Debug Python import errors'")
    if len(words) > MAX_NAME_WORDS:
        raise ValueError(f"the name has {len(words)} words: use at most ten")
    if any(echo in name.lower() for echo in _INSTRUCTION_ECHOES):
        raise ValueError(
            "the name repeats the instructions: write the name itself, such as 'Debug Python import errors'"
        )
    return name


class ModelClusterName(GeneratedCluster):
    """What the namers ask a model for: ``GeneratedCluster`` with its name checked."""

    @field_validator("name")
    @classmethod
    def _name_is_a_name(cls, name: str) -> str:
        return check_name(name)


def tidy(named: GeneratedCluster, *, named_by: str | None = None) -> GeneratedCluster:
    """Trim names and force the slug into snake_case, whatever the model wrote."""
    name = " ".join(named.name.split()).strip().rstrip(".")
    words = re.findall(r"[a-z0-9]+", (named.slug or name).lower())[:4] or re.findall(r"[a-z0-9]+", name.lower())[:3]
    return GeneratedCluster(
        name=name, summary=" ".join(named.summary.split()), slug="_".join(words) or "cluster", named_by=named_by
    )


def offline_names(groups: list[ClusterGroup]) -> list[GeneratedCluster]:
    """The offline namer's names, marked as such: the stand-in when a model's answer is missing."""
    return DistinctiveTermsNamer().name_groups_sync(groups)  # each marked named_by="terms"


def _group_id(group: ClusterGroup) -> str:
    if group.children:
        return "parent of " + ", ".join(describe(c, "")[:40] for c in group.children[:3])
    return cluster_id(0, group.chat_ids)
