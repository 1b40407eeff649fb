"""An item-level cache on disk: one SQLite file, safe to kill at any moment.

Every finished item (a summary, a vector) is keyed by a hash of everything that produced it, so
a restarted run reuses it and a changed setting misses it. Rows are committed in small batches:
a kill loses at most the last fifth of a second of work, never corrupts the file, and never
duplicates an item.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np


def content_key(*parts: Any) -> str:
    """A stable hash of JSON-serialisable parts (settings, message texts...)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class ItemCache:
    """Namespaced key -> value store. Values are text (JSON) or float32 vectors."""

    def __init__(self, path: str | Path, *, commit_every: int = 256, commit_seconds: float = 0.2):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS items (ns TEXT, key TEXT, text TEXT, vec BLOB, PRIMARY KEY (ns, key))"
        )
        self._db.commit()
        self._pending = 0
        self._last_commit = time.monotonic()
        self.commit_every = commit_every
        self.commit_seconds = commit_seconds
        self.hits = 0
        self.misses = 0

    # -- text values -------------------------------------------------------------------------
    def get_text(self, ns: str, key: str) -> str | None:
        row = self._db.execute("SELECT text FROM items WHERE ns=? AND key=?", (ns, key)).fetchone()
        self._count(row is not None)
        return None if row is None else row[0]

    def put_text(self, ns: str, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO items (ns, key, text) VALUES (?, ?, ?)", (ns, key, value))
        self._maybe_commit()

    # -- vectors -----------------------------------------------------------------------------
    def get_vectors(self, ns: str, keys: Iterable[str]) -> dict[str, np.ndarray]:
        keys = list(keys)
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, blob in self._db.execute(
                f"SELECT key, vec FROM items WHERE ns=? AND key IN ({marks})", (ns, *chunk)
            ):
                found[key] = np.frombuffer(blob, dtype=np.float32)
        self.hits += len(found)
        self.misses += len(set(keys)) - len(found)
        return found

    def put_vectors(self, ns: str, items: dict[str, np.ndarray]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO items (ns, key, vec) VALUES (?, ?, ?)",
            [(ns, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
        )
        self._maybe_commit(len(items))

    # -- housekeeping ------------------------------------------------------------------------
    def count(self, ns: str | None = None) -> int:
        if ns is None:
            return self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM items WHERE ns=?", (ns,)).fetchone()[0]

    def flush(self) -> None:
        self._db.commit()
        self._pending = 0
        self._last_commit = time.monotonic()

    def close(self) -> None:
        self.flush()
        self._db.close()

    def _count(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1

    def _maybe_commit(self, n: int = 1) -> None:
        self._pending += n
        if self._pending >= self.commit_every or time.monotonic() - self._last_commit > self.commit_seconds:
            self.flush()

    def __enter__(self) -> ItemCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
