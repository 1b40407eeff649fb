"""Conversations as Kura reads them: a chat id, messages, and free-form metadata."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

# Kura 0.5 restricted metadata to scalars and flat lists; real exports carry nested values
# (tool names, attachment lists), so any JSON value is accepted here.
metadata_dict = dict[str, Any]

Role = Literal["user", "assistant", "system", "tool"]


class Message(BaseModel):
    """One turn. ``role`` is Kura 0.5's ``user``/``assistant`` plus ``system`` and ``tool``."""

    created_at: datetime | None = None
    role: Role
    content: str


class Conversation(BaseModel):
    chat_id: str
    created_at: datetime | None = None
    messages: list[Message]
    metadata: metadata_dict = Field(default_factory=dict)

    @property
    def user_messages(self) -> list[Message]:
        return [m for m in self.messages if m.role == "user"]

    @classmethod
    def generate_conversation_dump(cls, conversations: list[Conversation], file_path: str) -> None:
        """Write conversations as one JSON array (Kura 0.5's dump format)."""
        with open(file_path, "w", encoding="utf-8") as f:
            json.dump([c.model_dump(mode="json") for c in conversations], f)

    @classmethod
    def from_conversation_dump(cls, file_path: str | Path) -> list[Conversation]:
        """Read a Kura 0.5 dump (JSON array or JSONL of ``Conversation`` objects)."""
        from kura.io import load_conversations

        return load_conversations([file_path], format="kura")

    @classmethod
    def from_claude_conversation_dump(
        cls,
        file_path: str | Path,
        metadata_fn: Callable[[dict], metadata_dict] = lambda x: {},
    ) -> list[Conversation]:
        """Read a Claude.ai ``conversations.json`` export."""
        from kura.io.claude import load_claude_export

        return load_claude_export(file_path, metadata_fn=metadata_fn)

    @classmethod
    def from_hf_dataset(
        cls,
        dataset_name: str,
        split: str = "train",
        max_conversations: int | None = None,
        chat_id_fn: Callable[[dict], str] = lambda x: x["chat_id"],
        created_at_fn: Callable[[dict], Any] = lambda x: x["created_at"],
        messages_fn: Callable[[dict], Any] = lambda x: x["messages"],
        metadata_fn: Callable[[dict], metadata_dict] = lambda x: {},
    ) -> list[Conversation]:
        """Read a Hugging Face dataset: a hub name, or a directory written by ``save_to_disk``."""
        from kura.io.hf import load_hf_dataset

        return load_hf_dataset(
            dataset_name,
            split=split,
            max_conversations=max_conversations,
            chat_id_fn=chat_id_fn,
            created_at_fn=created_at_fn,
            messages_fn=messages_fn,
            metadata_fn=metadata_fn,
        )
