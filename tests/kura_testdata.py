"""Where the test data lives, and loaders for it (a module, not conftest: sub-folders have their own)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
DEMO_DATA = REPO / "data" / "oasst_en100.jsonl"


def shared(name: str) -> Path:
    """A file of real test data kept in the repository (tests/data, or the demo's data/); see tests/data/README.md."""
    path = DEMO_DATA if name == DEMO_DATA.name else TEST_DATA / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: it belongs to the repository (tests/data/README.md)")
    return path


def clinc_lines() -> Iterator[str]:
    """The 22,500 CLINC150 queries as JSONL lines, in file order (the file is kept gzipped)."""
    with gzip.open(shared("clinc150.jsonl.gz"), "rt", encoding="utf-8") as f:
        yield from f


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
    for line in clinc_lines():
        row = json.loads(line)
        seen = taken.get(row["label"], 0)
        taken[row["label"]] = seen + 1
        if offset <= seen < offset + per_intent:
            rows.append(row)
    return rows
