"""Planted changes between two runs of real CLINC150 queries, for the diff's tests and its bench.

Run A holds 30 queries of each of 25 intents (every sixth intent, alphabetically). Run B keeps
them but for four planted changes: ``vanished`` loses all its queries, ``grown`` has each of its
queries twice (the copy under a new id), ``shrunk`` keeps 15 of its 30, and ``new`` is an intent
A never saw. With ``shared_ids=True`` B reuses A's queries (same ids: matched by id); otherwise
B takes other queries of the same intents (no shared ids: matched by content).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from kura_testdata import clinc_lines

from kura.analysis.diff import RunClusters, RunDiff

PER_INTENT = 30
#: Where run B's queries start in each intent's list when it shares no ids with A.
OTHER_QUERIES = 60


def _by_intent() -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for line in clinc_lines():
        row = json.loads(line)
        out[row["label"]].append(row)
    return out


def planted(shared_ids: bool) -> tuple[list[dict], list[dict], dict[str, str]]:
    """(rows of A, rows of B, planted status -> intent)."""
    rows = _by_intent()
    intents = sorted(rows)[::6]
    roles = {"vanished": intents[0], "grown": intents[1], "shrunk": intents[2], "new": sorted(rows)[3]}
    start = 0 if shared_ids else OTHER_QUERIES
    a = [r for i in intents for r in rows[i][:PER_INTENT]]
    b = []
    for intent in [*intents, roles["new"]]:
        size = {roles["vanished"]: 0, roles["shrunk"]: PER_INTENT // 2}.get(intent, PER_INTENT)
        b.extend(rows[intent][start : start + size])
        if intent == roles["grown"]:
            b.extend({**r, "id": r["id"] + "-again"} for r in rows[intent][start : start + size])
    return a, b, roles


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def majority(chat_ids: Iterable[str], label: dict[str, str]) -> str:
    return Counter(label[i] for i in chat_ids).most_common(1)[0][0]


def reported(result: RunDiff, a: RunClusters, b: RunClusters, label: dict[str, str]) -> dict[str, list[str]]:
    """Each intent (the majority intent of a cluster) -> the statuses of the changes it is in."""
    groups = {g.id: g for g in a.groups} | {g.id: g for g in b.groups}
    out: dict[str, list[str]] = defaultdict(list)
    for change in result.changes:
        for intent in {majority(groups[s.id].chat_ids, label) for s in change.a + change.b}:
            out[intent].append(change.status)
    return dict(out)
