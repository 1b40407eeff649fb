"""An item-level cache on disk: one SQLite file, safe to kill at any moment.

Every finished item (a summary, a vector) is keyed by a hash of everything that produced it, so
a restarted run reuses it and a changed setting misses it. Rows are committed in small batches:
a kill loses at most the last fifth of a second of work (inside an event loop, a batch that no later
row follows is committed by a timer), never corrupts the file, and never
duplicates an item. A disk that fills up or a file that cannot be written is a ``StoreError``
naming the file, like every other write to the run directory. A damaged file (corrupt pages,
not a database at all) is never the cause of a lasting failure: it is set aside next to the
original name (``cache.sqlite.damaged-<time>``) and an empty cache takes its place, so the run
recomputes what was lost and says so in ``ItemCache.set_aside``.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import hashlib
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import numpy as np

from kura.errors import StoreError
from kura.store.files import describe_os_error, writing

P = ParamSpec("P")
R = TypeVar("R")

#: SQLite result codes (the low byte of ``sqlite_errorcode``) that mean the file cannot be written.
_SQLITE_FULL = 13
_SQLITE_CORRUPT = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
_SQLITE_IOERR = 10
_SQLITE_UNWRITABLE = {3: "permission denied", 8: "read-only (permission denied)", 14: "cannot be opened"}


def content_key(*parts: Any) -> str:
    """A stable hash of JSON-serialisable parts (settings, message texts...)."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def _cache_error(exc: sqlite3.Error, path: Path) -> StoreError:
    """One line for a failed SQLite call: what failed and the fix, as for the other files."""
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    if code == _SQLITE_FULL:
        cause = describe_os_error(OSError(errno.ENOSPC, "no space"))
    elif code == _SQLITE_IOERR or code in _SQLITE_UNWRITABLE:
        # SQLite does not say why; writing a little beside the file shows the errno (full, immutable...).
        cause = _probe_folder(path.parent) or (
            f"{_SQLITE_UNWRITABLE.get(code, 'disk I/O error')}: choose another --out, "
            "or make the file and its folder writable"
        )
    else:
        cause = f"{exc}: delete the cache file to start it afresh (summaries and vectors will be recomputed)"
    return StoreError(f"cannot use the item cache: {cause}", path=str(path))


def _probe_folder(folder: Path) -> str | None:
    """Why writing to ``folder`` fails, found by trying (None when a small write works)."""
    try:
        with tempfile.TemporaryFile(dir=folder) as f:
            f.write(b"\0" * 65536)
            f.flush()
    except OSError as exc:
        return describe_os_error(exc)
    return None


def _guarded(method: Callable[Concatenate[ItemCache, P], R]) -> Callable[Concatenate[ItemCache, P], R]:
    """SQLite's failures to read or write the file become a ``StoreError`` naming it."""

    @functools.wraps(method)
    def call(self: ItemCache, *args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                raise _translated(exc, self.path) from exc
        self._replace_damaged()  # then once more, on the fresh file
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, self.path) from exc

    return call


def _translated(exc: sqlite3.DatabaseError, path: Path) -> Exception:
    """A ``StoreError`` for failures to read or write the file; other SQLite errors are bugs."""
    if isinstance(exc, sqlite3.OperationalError) or type(exc) is sqlite3.DatabaseError:
        return _cache_error(exc, path)
    return exc


def _is_corrupt(exc: sqlite3.Error) -> bool:
    code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
    return code in _SQLITE_CORRUPT or "malformed" in str(exc) or "not a database" in str(exc)


class ItemCache:
    """Namespaced key -> value store. Values are text (JSON) or float32 vectors."""

    def __init__(self, path: str | Path, *, commit_every: int = 256, commit_seconds: float = 0.2):
        self.path = Path(path)
        with writing(self.path.parent):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        #: Where damaged files were moved this session (shown to the user).
        self.set_aside: list[Path] = []
        self._db = self._open_checked()
        self._pending = 0
        self._last_commit = time.monotonic()
        self._timer: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None
        self.commit_every = commit_every
        self.commit_seconds = commit_seconds
        self.hits = 0
        self.misses = 0

    def _open_checked(self) -> sqlite3.Connection:
        """Open the file; a damaged one is set aside and replaced by an empty cache."""
        try:
            db = self._open()
            try:
                verdict = db.execute("PRAGMA quick_check").fetchone()
            except BaseException:
                db.close()
                raise
            if verdict is not None and verdict[0] == "ok":
                return db
            db.close()
        except sqlite3.DatabaseError as exc:
            if not _is_corrupt(exc):
                raise _translated(exc, self.path) from exc
        self._move_aside()
        try:
            return self._open()
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, self.path) from exc

    def _replace_damaged(self) -> None:
        """Damage found in the middle of a run: set the file aside and go on with an empty cache."""
        try:
            self._db.close()
        except sqlite3.Error:
            pass
        self._move_aside()
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            raise _translated(exc, self.path) from exc
        self._pending = 0

    def _move_aside(self) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        with writing(self.path):
            for suffix in ("", "-wal", "-shm"):
                part = self.path.with_name(self.path.name + suffix)
                if part.exists():
                    part.replace(target.with_name(target.name + suffix))
        self.set_aside.append(target)

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS items (ns TEXT, key TEXT, text TEXT, vec BLOB, PRIMARY KEY (ns, key))"
            )
            db.commit()
        except BaseException:
            db.close()
            raise
        return db

    # -- text values -------------------------------------------------------------------------
    @_guarded
    def get_text(self, ns: str, key: str) -> str | None:
        row = self._db.execute("SELECT text FROM items WHERE ns=? AND key=?", (ns, key)).fetchone()
        self._count(row is not None)
        return None if row is None else row[0]

    @_guarded
    def put_text(self, ns: str, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO items (ns, key, text) VALUES (?, ?, ?)", (ns, key, value))
        self._maybe_commit()

    # -- vectors -----------------------------------------------------------------------------
    @_guarded
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

    @_guarded
    def put_vectors(self, ns: str, items: dict[str, np.ndarray]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO items (ns, key, vec) VALUES (?, ?, ?)",
            [(ns, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
        )
        self._maybe_commit(len(items))

    # -- housekeeping ------------------------------------------------------------------------
    @_guarded
    def count(self, ns: str | None = None) -> int:
        if ns is None:
            return self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        return self._db.execute("SELECT COUNT(*) FROM items WHERE ns=?", (ns,)).fetchone()[0]

    @_guarded
    def flush(self) -> None:
        self._db.commit()
        self._pending = 0
        self._last_commit = time.monotonic()
        if self._timer is not None:
            self._timer[1].cancel()
            self._timer = None

    def close(self) -> None:
        try:
            self.flush()
        finally:
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
        else:
            self._commit_later()

    def _commit_later(self) -> None:
        """Rows put soon after a commit wait for the next put; when none comes (the answers that
        arrived just before one slow request), a timer on the running event loop commits them after
        ``commit_seconds``, so a kill meanwhile does not lose them. Without a loop (a plain loop of
        puts), the next put or ``flush`` commits them as before."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._timer is not None and self._timer[0] is loop and not self._timer[1].cancelled():
            return
        self._timer = (loop, loop.call_later(self.commit_seconds, self._commit_pending))

    def _commit_pending(self) -> None:
        self._timer = None
        if self._pending:
            try:
                self.flush()
            except StoreError:
                pass  # the next put or flush meets the same error and raises it where it can be reported

    def __enter__(self) -> ItemCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
