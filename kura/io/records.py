"""The JSON formats, in the order detection tries them.

Record formats turn one JSON object into one conversation (``parse``). Most specific first: a
ChatGPT ``mapping`` or Claude ``chat_messages`` is unmistakable, a Kura dump is an OpenAI-style
record that also has ``chat_id``. Trace formats spread a conversation over many records (a trace's
generations, runs or spans) and read a whole file (``read``/``read_records``, see ``kura.io.traces``);
their records have keys no record format has, so they are tried after them.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from kura.io import (
    anthropic_log,
    chatgpt,
    claude,
    hh_rlhf,
    kura_dump,
    langfuse,
    langsmith,
    openai,
    openai_log,
    otel,
    sharegpt,
)

RECORD_FORMATS: dict[str, ModuleType] = {
    module.NAME: module for module in (chatgpt, claude, kura_dump, openai, sharegpt, hh_rlhf, openai_log, anthropic_log)
}
TRACE_FORMATS: dict[str, ModuleType] = {module.NAME: module for module in (langfuse, langsmith, otel)}


def match_record(record: Any) -> str | None:
    """The name of the record format that ``record`` looks like, or None."""
    if not isinstance(record, dict):
        return None
    formats = {**RECORD_FORMATS, **TRACE_FORMATS}
    return next((name for name, module in formats.items() if module.matches(record)), None)
