"""Where the test data lives, and loaders for it (a module, not conftest: sub-folders have their own)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
DEMO_DATA = REPO / "data" / "oasst_en100.jsonl"


def shared(name: str) -> Path:
    """A file of ../shared/data; CI clones the repo with shared/ beside it, so missing is an error."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need ../shared/data beside the repository")
    return path


def oasst_conversations():
    from kura.types import Conversation, Message

    out = []
    for line in DEMO_DATA.read_text().splitlines():
        row = json.loads(line)
        out.append(Conversation(chat_id=row["id"], messages=[Message(**m) for m in row["messages"]]))
    return out


def clinc_slice(per_intent: int, *, offset: int = 0) -> list[dict]:
    """``per_intent`` rows of each of the 150 intents, in file order (deterministic)."""
    taken: dict[str, int] = {}
    rows = []
    with open(shared("clinc150.jsonl"), encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            seen = taken.get(row["label"], 0)
            taken[row["label"]] = seen + 1
            if offset <= seen < offset + per_intent:
                rows.append(row)
    return rows
