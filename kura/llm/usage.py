"""Token usage per pipeline stage: requests sent, answers served from the cache, retries, tokens."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class StageUsage:
    requests: int = 0  # HTTP requests (or local generations) actually made, retries included
    cached: int = 0  # answers served from the cache: no request
    retries: int = 0  # transport retries (429, 5xx, timeouts) and re-asks after invalid output
    failures: int = 0  # calls that failed after every retry
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, other: StageUsage) -> None:
        for key, value in asdict(other).items():
            setattr(self, key, getattr(self, key) + value)


@dataclass
class UsageMeter:
    """Counts per stage label (``summarise``, ``clusters``, ``hierarchy``, ``embed``)."""

    stages: dict[str, StageUsage] = field(default_factory=dict)

    def stage(self, label: str) -> StageUsage:
        return self.stages.setdefault(label, StageUsage())

    def record_request(self, label: str, input_tokens: int, output_tokens: int) -> None:
        usage = self.stage(label)
        usage.requests += 1
        usage.input_tokens += input_tokens
        usage.output_tokens += output_tokens

    def total(self) -> StageUsage:
        out = StageUsage()
        for usage in self.stages.values():
            out.add(usage)
        return out

    def merge(self, other: UsageMeter | None) -> None:
        if other is None:
            return
        for label, usage in other.stages.items():
            self.stage(label).add(usage)

    def reset(self) -> None:
        self.stages.clear()

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {label: asdict(usage) for label, usage in self.stages.items()}


def meters_of(*components: Any) -> list[UsageMeter]:
    """The usage meters behind components, each once and always in the same order: a
    component's own (``usage``: an embedding API) and its model's (``llm.usage``).

    An executor that runs a component's copy elsewhere (a Ray worker) counts on the copy's
    meters and adds what they counted to these (kura/runner/ray_executor.py).
    """
    found: dict[int, UsageMeter] = {}
    for component in components:
        for meter in (getattr(component, "usage", None), getattr(getattr(component, "llm", None), "usage", None)):
            if isinstance(meter, UsageMeter):
                found.setdefault(id(meter), meter)
    return list(found.values())
