"""What a run costs: a small price table, cost from measured usage, and estimates before a run.

Prices are list prices in US dollars per million tokens for standard (not batch) requests, as
published by each provider on ``PRICES_AS_OF``; check them before relying on an estimate. A model
not in the table has no cost estimate (shown as unknown), never a guessed one; local and fake
models cost nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from kura.llm.base import estimate_tokens
from kura.llm.usage import StageUsage, UsageMeter

PRICES_AS_OF = "2025-06-01"

#: model name prefix -> (input, output) USD per million tokens. Longest matching prefix wins.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "o4-mini": (1.10, 4.40),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "text-embedding-ada-002": (0.10, 0.0),
    "claude-3-haiku": (0.25, 1.25),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-opus-4": (15.00, 75.00),
    "gemini-1.5-flash": (0.075, 0.30),
    "gemini-2.0-flash-lite": (0.075, 0.30),
    "gemini-2.0-flash": (0.10, 0.40),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.5-pro": (1.25, 10.00),
}
FREE_PROVIDERS = {"local", "fake"}


def price(model_name: str) -> tuple[float, float] | None:
    """(input, output) USD per million tokens for ``provider/model``, or None when unknown."""
    provider, _, model = model_name.partition("/")
    if provider in FREE_PROVIDERS:
        return (0.0, 0.0)
    model = model.rsplit("/", 1)[-1]  # openrouter/openai/gpt-4o-mini
    matches = [p for p in PRICES if model.startswith(p)]
    return PRICES[max(matches, key=len)] if matches else None


def cost(model_name: str, input_tokens: int, output_tokens: int) -> float | None:
    rates = price(model_name)
    if rates is None:
        return None
    return (input_tokens * rates[0] + output_tokens * rates[1]) / 1_000_000


def usage_report(meter: UsageMeter, models: dict[str, str]) -> dict:
    """Usage per stage with estimated cost, for run.json and the end of ``kura run``.

    ``models`` maps a stage label to the model that served it (embeddings may differ).
    """
    stages: dict[str, dict] = {}
    total_cost: float | None = 0.0
    for label, usage in meter.stages.items():
        model = models.get(label) or models.get("*", "")
        dollars = cost(model, usage.input_tokens, usage.output_tokens)
        stages[label] = {
            **meter.as_dict()[label],
            "model": model,
            "cost_usd": None if dollars is None else round(dollars, 6),
        }
        total_cost = None if dollars is None or total_cost is None else total_cost + dollars
    total = meter.total()
    return {
        "stages": stages,
        "total": {
            **{k: getattr(total, k) for k in StageUsage.__dataclass_fields__},
            "cost_usd": None if total_cost is None else round(total_cost, 6),
        },
        "prices_as_of": PRICES_AS_OF,
    }


# -- estimates before a run (kura run --dry-run) -------------------------------------------------


@dataclass
class StageEstimate:
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass
class Estimate:
    model: str
    conversations: int
    stages: dict[str, StageEstimate] = field(default_factory=dict)

    def cost_usd(self) -> float | None:
        total = 0.0
        for est in self.stages.values():
            dollars = cost(self.model, est.input_tokens, est.output_tokens)
            if dollars is None:
                return None
            total += dollars
        return total

    def lines(self) -> list[str]:
        out = [
            f"Estimate for {self.conversations:,} conversations with {self.model} (prices as of {PRICES_AS_OF}; tokens ~ characters / 4):"
        ]
        for label, est in self.stages.items():
            dollars = cost(self.model, est.input_tokens, est.output_tokens)
            shown = "unknown price" if dollars is None else f"${dollars:,.4f}"
            out.append(
                f"  {label:<10} {est.requests:>8,} requests  {est.input_tokens:>12,} in  {est.output_tokens:>10,} out  {shown}"
            )
        total = self.cost_usd()
        out.append("  total cost: " + ("unknown (model not in the price table)" if total is None else f"${total:,.4f}"))
        return out


#: Typical reply sizes, in tokens, measured on gpt-4o-mini answers to Kura's prompts.
SUMMARY_OUTPUT_TOKENS = 150
NAME_OUTPUT_TOKENS = 80
SUMMARY_TOKENS = 35  # one summary, as seen by the naming prompts


def estimate(
    prompts: Iterable[list[dict[str, str]]],
    model: str,
    *,
    clusters_per_group: int = 10,
    top_clusters: int | None = None,
    levels: int | None = None,
    neighbourhood_size: int = 40,
    assign_batch: int = 25,
    candidates_factor: float = 1.5,
    dedup_chunk: int = 150,
    max_examples: int = 20,
    max_contrastive: int = 10,
) -> Estimate:
    """Tokens and requests for a run, from the summary prompts it would send (no calls made).

    Summaries are counted exactly from their prompts; naming and the hierarchy from the sizes the
    pipeline will use, with typical summary and reply lengths.
    """
    from kura.stages.cluster import base_cluster_count
    from kura.stages.hierarchy import default_top_clusters, level_sizes

    summarise = StageEstimate()
    n = 0
    for messages in prompts:
        n += 1
        summarise.requests += 1
        summarise.input_tokens += estimate_tokens("".join(m["content"] for m in messages)) + 8 * len(messages)
        summarise.output_tokens += SUMMARY_OUTPUT_TOKENS
    result = Estimate(model=model, conversations=n, stages={"summarise": summarise})
    if n == 0:
        return result
    k = base_cluster_count(n, clusters_per_group)  # the clusterer's own rule (capped at 5,000)
    instructions = 350
    per_cluster = min(clusters_per_group, max_examples) + max_contrastive
    result.stages["clusters"] = StageEstimate(
        k, k * (instructions + per_cluster * SUMMARY_TOKENS), k * NAME_OUTPUT_TOKENS
    )
    tree = StageEstimate()
    current = k
    for size in level_sizes(k, top_clusters or default_top_clusters(k), levels):
        hoods = math.ceil(current / neighbourhood_size)
        batches = math.ceil(current / assign_batch)
        described = current * 2 * NAME_OUTPUT_TOKENS // 3  # a child's name and description
        candidates = math.ceil(size * candidates_factor)
        dedup = math.ceil(candidates / dedup_chunk) if candidates > size else 0
        tree.requests += hoods + dedup + batches + size
        tree.input_tokens += (
            (hoods + batches) * instructions + 2 * described + candidates * 15 + batches * candidates * 15
        )
        tree.input_tokens += size * (instructions + (current // size) * 2 * NAME_OUTPUT_TOKENS // 3)
        tree.output_tokens += candidates * 15 * 2 + current * 3 + size * NAME_OUTPUT_TOKENS
        current = size
    result.stages["hierarchy"] = tree
    return result
