"""Which runs the server shows, and a small cache of the ones that were opened.

A run is known by its folder name only. Every API parameter that names a run is looked up in
this registry, never joined onto a path, so no request can reach a folder it did not list.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from kura.errors import InputError, KuraError
from kura.server.rundata import RunData, missing_files
from kura.store import artifacts
from kura.store.run import SIDECAR, is_run_dir

#: Runs kept in memory; opening another evicts the least recently used.
CACHE_SIZE = 4


class RunRegistry:
    """Runs under ``root`` (``root`` itself, or its sub-folders that are runs), plus new ones.

    ``allow_raw_text``: serve the raw conversation text of ``--privacy strict`` runs too."""

    def __init__(self, root: Path, *, cache_size: int = CACHE_SIZE, allow_raw_text: bool = False):
        self.root = root.resolve()
        self.allow_raw_text = allow_raw_text
        if not self.root.is_dir():
            raise InputError("is not a folder: give a run directory or a folder of run directories", path=str(root))
        self.single = is_run_dir(self.root)
        self._added: dict[str, Path] = {}
        self._busy: set[str] = set()
        self._cache: OrderedDict[str, tuple[tuple, RunData]] = OrderedDict()
        self._loading: dict[str, threading.Lock] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @property
    def new_runs_dir(self) -> Path:
        """Where runs started from the browser go: beside the run, or in the folder of runs."""
        return self.root.parent if self.single else self.root

    def paths(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        if self.single:
            found[self.root.name] = self.root
        else:
            for child in sorted(self.root.iterdir()):
                if not child.name.startswith(".") and child.is_dir() and is_run_dir(child):
                    found[child.name] = child
        for name, path in self._added.items():
            found.setdefault(name, path)
        return found

    def add(self, name: str, path: Path, *, busy: bool) -> None:
        """Show a run created by this server (it may live outside ``root``)."""
        with self._lock:
            self._added[name] = path
            (self._busy.add if busy else self._busy.discard)(name)
            self._cache.pop(name, None)

    def remove(self, name: str) -> None:
        """Forget a run this server added (its folder is gone)."""
        with self._lock:
            self._added.pop(name, None)
            self._busy.discard(name)
            self._cache.pop(name, None)

    def is_taken(self, name: str) -> bool:
        return name in self.paths() or (self.new_runs_dir / name).exists()

    def listing(self) -> list[dict[str, Any]]:
        out = []
        for name, path in self.paths().items():
            entry: dict[str, Any] = {"name": name, "status": "ready"}
            try:
                meta = json.loads((path / SIDECAR).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                meta = {}
            counts = meta.get("counts", {})
            entry.update(
                mode=meta.get("mode"),
                conversations=counts.get("summarised"),
                clusters=counts.get("clusters"),
                updated_at=meta.get("updated_at"),
            )
            if name in self._busy:
                entry["status"] = "running"
            elif missing_files(path):
                entry["status"] = "incomplete"
            out.append(entry)
        return out

    def get(self, name: str) -> RunData:
        """The loaded run called ``name``; KeyError when there is no such run."""
        path = self.paths().get(name)
        if path is None or name in self._busy:
            raise KeyError(name)
        stamp = self._stamp(path)
        with self._lock:
            loading = self._loading.setdefault(name, threading.Lock())
        with loading:  # one load per run: a second request waits for the first one's result
            with self._lock:
                cached = self._cache.get(name)
                if cached and cached[0] == stamp:
                    self._cache.move_to_end(name)
                    return cached[1]
            data = RunData.load(name, path, allow_raw_text=self.allow_raw_text)
            # The map's payloads now, before anything competes for the interpreter; then the
            # fields, line index and search index (seconds on big runs) while the page draws.
            data.overview_json()
            data.points_binary()
            threading.Thread(target=data.prepare, name=f"kura-prepare-{name}", daemon=True).start()
            with self._lock:
                self._cache[name] = (stamp, data)
                self._cache.move_to_end(name)
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
            return data

    def warm(self) -> None:
        """Load the most recently updated run, so the first page shows it without waiting."""
        ready = [r for r in self.listing() if r["status"] == "ready"]
        if ready:
            newest = max(ready, key=lambda r: r.get("updated_at") or "")
            try:
                self.get(newest["name"])
            except (KeyError, KuraError):
                pass  # the page reports it when someone opens that run

    @staticmethod
    def _stamp(path: Path) -> tuple:
        """Changes whenever a re-run rewrites the run, so the cache never serves stale data."""
        stats: list[tuple[int, int] | None] = []
        for name in (SIDECAR, artifacts.CONVERSATION_TABLE.file, artifacts.CLUSTER_TABLE.file, artifacts.OUTCOMES.file):
            try:
                stat = (path / name).stat()
                stats.append((stat.st_mtime_ns, stat.st_size))
            except OSError:
                stats.append(None)
        return tuple(stats)
