"""The item cache commits in small batches, and a batch never waits on a later row to be saved."""

from __future__ import annotations

import asyncio
import sqlite3

from kura.store.cache import ItemCache


def saved(path) -> int:
    """Rows another process would see now (a SIGKILL keeps exactly these)."""
    with sqlite3.connect(path) as other:
        return other.execute("SELECT COUNT(*) FROM items").fetchone()[0]


def test_rows_put_just_after_a_commit_are_committed_without_a_later_put(tmp_path):
    path = tmp_path / "cache.sqlite"
    cache = ItemCache(path, commit_seconds=0.1)

    async def answers_then_a_straggler() -> tuple[int, int]:
        cache.flush()
        for i in range(5):  # within 0.1 s of the commit: they wait for a later put...
            cache.put_text("llm", f"k{i}", "answer")
        right_away = saved(path)
        await asyncio.sleep(0.5)  # ...which never comes while one slow request is still out
        return right_away, saved(path)

    right_away, later = asyncio.run(answers_then_a_straggler())
    assert right_away < 5 and later == 5
    cache.put_text("llm", "k5", "answer")  # outside an event loop: committed by the next put or flush
    cache.close()
    assert saved(path) == 6
