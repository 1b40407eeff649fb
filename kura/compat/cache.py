"""Kura 0.5's cache strategies: a key-value store for model outputs, here on SQLite."""

from __future__ import annotations

import pickle
import sqlite3
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any


class CacheStrategy(ABC):
    @abstractmethod
    def get(self, key: str) -> Any | None: ...

    @abstractmethod
    def set(self, key: str, value: Any) -> None: ...


class DiskCacheStrategy(CacheStrategy):
    """Values pickled into ``<cache_dir>/cache.sqlite``; survives restarts and kills.

    Pickle is only ever read back from a directory you chose yourself, like Kura 0.5's diskcache.
    """

    def __init__(self, cache_dir: str | Path):
        path = Path(cache_dir)
        path.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path / "cache.sqlite"), check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value BLOB)")
        self._db.commit()

    def get(self, key: str) -> Any | None:
        row = self._db.execute("SELECT value FROM cache WHERE key=?", (key,)).fetchone()
        return None if row is None else pickle.loads(row[0])

    def set(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO cache VALUES (?, ?)", (key, pickle.dumps(value)))
        self._db.commit()
