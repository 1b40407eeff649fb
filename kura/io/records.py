"""The record formats (one JSON object -> one conversation), in the order detection tries them.

Most specific first: a ChatGPT ``mapping`` or Claude ``chat_messages`` is unmistakable, a Kura
dump is an OpenAI-style record that also has ``chat_id``.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from kura.io import chatgpt, claude, hh_rlhf, kura_dump, openai, sharegpt

RECORD_FORMATS: dict[str, ModuleType] = {
    module.NAME: module for module in (chatgpt, claude, kura_dump, openai, sharegpt, hh_rlhf)
}


def match_record(record: Any) -> str | None:
    """The name of the record format that ``record`` looks like, or None."""
    if not isinstance(record, dict):
        return None
    return next((name for name, module in RECORD_FORMATS.items() if module.matches(record)), None)
