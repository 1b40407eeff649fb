"""The run directory: every stage's output in one documented folder that a later run resumes from.

Layout (see docs/run-directory.md):

    run.json               sidecar: version, parameters, inputs, per-stage fingerprints and timings
    conversations.jsonl    the conversations as loaded (Kura 0.5 ``Conversation`` per line)
    summaries.jsonl        one ``ConversationSummary`` per line (Kura 0.5 checkpoint)
    clusters.jsonl         base clusters (Kura 0.5 checkpoint)
    meta_clusters.jsonl    the whole tree, base clusters and their parents (Kura 0.5 checkpoint)
    dimensionality.jsonl   every cluster with map coordinates and level (Kura 0.5 checkpoint)
    conversations.parquet  one row per conversation: facets, cluster path, map position
    clusters.parquet       one row per cluster
    errors.jsonl           items that failed (id, stage, error); retried by the next run
    cache.sqlite           item cache: summaries and vectors keyed by content and settings

Files are replaced atomically (write, then rename), so a kill never leaves half a file behind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel

from kura.errors import InputError
from kura.store.cache import ItemCache
from kura.store.files import replacing, writing

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

SIDECAR = "run.json"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def atomic_write(path: Path, lines: Iterable[str]) -> int:
    """Write lines to ``path`` through a temporary file in the same folder; returns the count."""
    count = 0
    with replacing(path) as f:
        for line in lines:
            f.write(line)
            f.write("\n")
            count += 1
    return count


class RunStore:
    """One run directory. Cheap to open; the cache is opened on first use."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise InputError("is a file, not a run directory: choose another --out", path=str(self.path))
        with writing(self.path):
            self.path.mkdir(parents=True, exist_ok=True)
        self._cache: ItemCache | None = None
        sidecar = self.path / SIDECAR
        self.meta: dict[str, Any] = json.loads(sidecar.read_text()) if sidecar.exists() else {}
        self.meta.setdefault("created_at", now())
        self.meta.setdefault("stages", {})

    # -- files -------------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        return self.path / name

    def exists(self, name: str) -> bool:
        return self.file(name).exists()

    def write_models(self, name: str, models: Iterable[BaseModel], *, exclude: set[str] | None = None) -> int:
        return atomic_write(self.file(name), (m.model_dump_json(exclude=exclude) for m in models))

    def write_through(self, name: str, items: Iterable[T], dump: Callable[[T], str]) -> Iterator[T]:
        """Pass ``items`` on while writing ``dump(item)`` per line; the file appears once all passed."""
        with replacing(self.file(name)) as f:
            for item in items:
                f.write(dump(item))
                f.write("\n")
                yield item

    def write_binary(self, name: str, write: Callable[[IO[bytes]], object]) -> None:
        """Write a binary file (NumPy, Parquet) through ``write(file)``, atomically."""
        with replacing(self.file(name), binary=True) as f:
            write(f)

    def read_models(self, name: str, model: type[M]) -> list[M]:
        return list(self.iter_models(name, model))

    def iter_models(self, name: str, model: type[M]) -> Iterator[M]:
        with open(self.file(name), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield model.model_validate_json(line)

    def write_json(self, name: str, value: Any) -> None:
        atomic_write(self.file(name), [json.dumps(value, indent=2, ensure_ascii=False, default=str)])

    # -- stages ------------------------------------------------------------------------------
    def stage_done(self, stage: str, fingerprint: str, *outputs: str) -> bool:
        """True when ``stage`` last finished with this fingerprint and its outputs are still there."""
        record = self.meta["stages"].get(stage, {})
        return record.get("fingerprint") == fingerprint and all(self.exists(o) for o in outputs)

    def finish_stage(self, stage: str, fingerprint: str, **info: Any) -> None:
        self.meta["stages"][stage] = {"fingerprint": fingerprint, "finished_at": now(), **info}
        self.save_meta()

    def save_meta(self) -> None:
        self.meta["updated_at"] = now()
        self.write_json(SIDECAR, self.meta)

    # -- failures ----------------------------------------------------------------------------
    def write_failures(self, failures: list[dict[str, Any]]) -> None:
        atomic_write(self.file("errors.jsonl"), (json.dumps(f, ensure_ascii=False) for f in failures))

    def read_failures(self) -> list[dict[str, Any]]:
        if not self.exists("errors.jsonl"):
            return []
        with open(self.file("errors.jsonl"), encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    # -- cache -------------------------------------------------------------------------------
    @property
    def cache(self) -> ItemCache:
        if self._cache is None:
            self._cache = ItemCache(self.file("cache.sqlite"))
        return self._cache

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / SIDECAR).is_file()
