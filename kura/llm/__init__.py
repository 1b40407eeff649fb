"""Language models for Kura: one seam, many providers, and the LLM versions of the stages.

    from kura.llm import get_llm, LLMSummariser, LLMClusterNamer, ClioHierarchy
    llm = get_llm("openai/gpt-4o-mini")          # or anthropic/..., gemini/..., ollama/..., local, fake/echo
    kura.run("chats.jsonl", llm=llm)             # or simply llm="openai/gpt-4o-mini"

Provider modules (openai, azure, anthropic, gemini, local) are imported when first used, so
``import kura`` needs none of their dependencies.
"""

from kura.llm.base import LLM, ChatMessage, Completion, OutputSchema, estimate_tokens
from kura.llm.clio import ClioHierarchy
from kura.llm.cost import PRICES, PRICES_AS_OF, Estimate, estimate, price, usage_report
from kura.llm.errors import InvalidOutputError, LLMError, ProviderError
from kura.llm.fake import FakeLLM
from kura.llm.namer import LLMClusterNamer
from kura.llm.prompts import DEFAULT_CLUSTER_PROMPT, DEFAULT_SUMMARY_PROMPT, fit_messages
from kura.llm.registry import get_llm, providers, register_provider
from kura.llm.retry import RetryPolicy
from kura.llm.summariser import LLMSummariser
from kura.llm.usage import StageUsage, UsageMeter

__all__ = [
    "ChatMessage",
    "ClioHierarchy",
    "Completion",
    "DEFAULT_CLUSTER_PROMPT",
    "DEFAULT_SUMMARY_PROMPT",
    "Estimate",
    "FakeLLM",
    "InvalidOutputError",
    "LLM",
    "LLMClusterNamer",
    "LLMError",
    "LLMSummariser",
    "OutputSchema",
    "PRICES",
    "PRICES_AS_OF",
    "ProviderError",
    "RetryPolicy",
    "StageUsage",
    "UsageMeter",
    "estimate",
    "estimate_tokens",
    "fit_messages",
    "get_llm",
    "price",
    "providers",
    "register_provider",
    "usage_report",
]
