"""Names from a local model where they pay: the levels people read first, within a time budget.

Without an API key the offline namer names every cluster in milliseconds; a local model
(Qwen2.5-Coder-0.5B on two cores) writes a better name in a few seconds. ``BudgetedNamer`` puts
the two together at the ``ClusterNamer`` seam: every level is named offline first, then a level
with at most ``max_groups`` clusters - the top of the tree, and the base when there are few -
is named again by the model, largest clusters first, until ``budget_seconds`` (for the whole
run) are spent. The base level is named before the hierarchy exists, so it may take only
``base_share`` of the budget: the top level, read first, always gets the rest. Every cluster records which namer made its name (``Cluster.named_by``).

Fast where it can be, on CPU where prompt tokens cost most:
- the smallest answer: a name only (the offline description stays), capped at ``max_name_chars``;
- a prompt with its fixed part first (rules and instruction in the system prompt), so llama.cpp
  reuses the evaluated prefix from call to call and only the group's requests are new;
- ``examples`` typical requests per group, each clipped, rather than Clio's 20 summaries;
- ``groups_per_call`` groups in one request, when that measures faster (BENCHMARKS.md, "Local names").

The budget is checked before each request (one that is running finishes), and answers are cached
in the run directory, so a second run names the same clusters without asking again.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, Field, create_model

from kura.llm.base import LLM, ChatMessage
from kura.llm.namer import check_name
from kura.llm.prompts import ANALYST_RULES, clip_text
from kura.llm.registry import get_llm
from kura.llm.schema import response_schema
from kura.stages.naming import OFFLINE_NAMER, ClusterGroup, ClusterNamer, DistinctiveTermsNamer
from kura.types import GeneratedCluster

STAGE = "names"

NAME_SYSTEM = (
    "You name groups of requests that users sent to an AI assistant. "
    "A name is an imperative phrase of two to six words saying what the users want, as specific as the "
    "requests allow, such as 'Debug Python import errors', 'Plan travel itineraries' or 'Translate "
    "sentences into Italian'. Never a question, never a quote of one request. " + ANALYST_RULES
)


def _name_field(max_chars: int) -> Any:
    return Annotated[str, Field(min_length=2, max_length=max_chars), AfterValidator(check_name)]


@functools.lru_cache(maxsize=64)
def names_model(count: int, max_chars: int) -> type[BaseModel]:
    """``{"names": [...]}`` with exactly ``count`` names (``{"name": ...}`` for one: fewer tokens)."""
    if count == 1:
        return create_model("GroupName", name=(_name_field(max_chars), ...))
    names: Any = Annotated[list[_name_field(max_chars)], Field(min_length=count, max_length=count)]  # type: ignore[misc]
    return create_model("GroupNames", names=(names, ...))


def names_messages(groups: list[list[str]], clip_chars: int) -> list[ChatMessage]:
    """The system prompt (fixed: llama.cpp reuses it), then the groups' requests, then the ask."""
    if len(groups) == 1:
        body = "<requests>\n" + "\n".join(f"- {clip_text(t, clip_chars)}" for t in groups[0]) + "\n</requests>\n\n"
        body += "Name this group of requests."
    else:
        body = ""
        for g, texts in enumerate(groups, start=1):
            body += f"<group {g}>\n" + "\n".join(f"- {clip_text(t, clip_chars)}" for t in texts) + f"\n</group {g}>\n"
        body += f"\nName each of the {len(groups)} groups, in order: one name per group."
    return [{"role": "system", "content": NAME_SYSTEM}, {"role": "user", "content": body}]


class BudgetedNamer(ClusterNamer):
    """The offline namer for everything; a model for small levels, largest clusters first, within a budget."""

    uses_llm = True

    def __init__(
        self,
        llm: str | LLM = "local",
        *,
        offline: ClusterNamer | None = None,
        budget_seconds: float = 60.0,
        max_groups: int = 12,
        base_share: float = 0.5,
        groups_per_call: int = 1,
        examples: int = 10,
        clip_chars: int = 120,
        max_name_chars: int = 60,
        temperature: float = 0.0,
    ):
        self.llm = get_llm(llm)
        self.offline = offline or DistinctiveTermsNamer()
        self.budget_seconds = budget_seconds
        self.max_groups = max_groups
        self.base_share = base_share
        self.groups_per_call = groups_per_call
        self.examples = examples
        self.clip_chars = clip_chars
        self.max_name_chars = max_name_chars
        self.temperature = temperature
        self._deadline: float | None = None
        self._call_seconds = 0.0  # the slowest request so far: one more must fit in what is left

    @property
    def name(self) -> str:
        return (
            f"budgeted-names:v1:{self.llm.identity}:{self.offline.name}:{self.budget_seconds:g}s:max{self.max_groups}:base{self.base_share:g}:"
            f"per{self.groups_per_call}:ex{self.examples}:clip{self.clip_chars}:len{self.max_name_chars}:t{self.temperature:g}"
        )

    def remaining(self) -> float:
        """Seconds of the budget left; the clock starts at the first level the model may name."""
        if self._deadline is None:
            return self.budget_seconds
        return self._deadline - time.monotonic()

    async def name_groups(self, groups: list[ClusterGroup]) -> list[GeneratedCluster]:
        offline = await self.offline.name_groups(groups)
        named = [n.model_copy(update={"named_by": n.named_by or OFFLINE_NAMER}) for n in offline]
        if not groups or len(groups) > self.max_groups or self.budget_seconds <= 0:
            return named
        if self._deadline is None:
            self._deadline = time.monotonic() + self.budget_seconds
        # The base level is named first (the hierarchy comes after it) but read after the top: it
        # may use only its share of what is left, so the top level is named too.
        is_base = not any(g.children for g in groups)
        stop = self._deadline - (1 - self.base_share) * self.remaining() if is_base else self._deadline
        order = sorted(range(len(groups)), key=lambda g: -len(groups[g].chat_ids))
        step = max(1, self.groups_per_call)
        for start in range(0, len(order), step):
            if stop - time.monotonic() < self._call_seconds:
                break  # the next request would overrun the budget: the rest keep their offline names
            batch = order[start : start + step]
            began = time.monotonic()
            try:
                names = await self._ask([self._texts(groups[g]) for g in batch])
            except Exception:  # noqa: BLE001  (any failure: the offline name stands, as promised)
                continue
            finally:
                self._call_seconds = max(self._call_seconds, time.monotonic() - began)
            for g, name in zip(batch, names):
                named[g] = named[g].model_copy(update={"name": _tidy(name), "named_by": self.llm.name})
        return named

    def _texts(self, group: ClusterGroup) -> list[str]:
        # Member requests, most typical first (for a parent: interleaved across its children).
        return list(group.texts[: self.examples]) or list(group.children[: self.examples])

    async def _ask(self, groups: list[list[str]]) -> list[str]:
        model = names_model(len(groups), self.max_name_chars)
        answer: Any = await self.llm.generate(
            names_messages(groups, self.clip_chars),
            model,
            stage=STAGE,
            temperature=self.temperature,
            max_tokens=24 * len(groups) + 16,
            schema=response_schema(model),
        )
        return [answer.name] if len(groups) == 1 else list(answer.names)


def _tidy(name: str) -> str:
    name = " ".join(name.split()).strip().strip("\"'").rstrip(".")
    return name[:1].upper() + name[1:]


def local_namer(choice: str, budget_seconds: float, note: Callable[[str], None]) -> BudgetedNamer | None:
    """The namer ``--local-names`` asks for: None for ``off``, and for ``auto`` when no local model
    is found (the run says so and names offline); ``on`` without one is a ConfigError."""
    from kura.errors import ConfigError
    from kura.llm.sources import resolve

    if choice == "off":
        return None
    found = resolve("")
    if found.chosen is None:
        if choice == "on":
            raise ConfigError(f"--local-names on: {found.explain()}; see `kura doctor`")
        note("names: no local model found (see `kura doctor`), so every name comes from the offline namer")
        return None
    return BudgetedNamer(get_llm("local"), budget_seconds=budget_seconds)
