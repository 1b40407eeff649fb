"""The run directory: every stage's output in one folder that a later run resumes from.

The files are named in ``kura.store.artifacts`` (see docs/run-directory.md). Every file is
replaced atomically (``kura.store.files``); a writing run holds the folder's lock; each stage's
output is recorded in ``run.json`` with its size and sha256 and is reused only while both match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from kura.errors import InputError
from kura.store import artifacts
from kura.store.artifacts import Artifact
from kura.store.cache import ItemCache
from kura.store.files import replacing, writing
from kura.store.lock import RunLock
from kura.store.meta import Failure, FileDigest, RunMeta, StageRecord, now

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

SIDECAR = artifacts.SIDECAR.file


def atomic_write(path: Path, lines: Iterable[str]) -> int:
    """Write lines to ``path`` through a temporary file in the same folder; returns the count."""
    count = 0
    with replacing(path) as f:
        for line in lines:
            f.write(line)
            f.write("\n")
            count += 1
    return count


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class RunStore:
    """One run directory. ``write=True`` (a run) creates it and holds its lock until ``close``;
    readers (the explorer, ``kura tree``, ``kura sql``) take no lock. The cache opens on first use."""

    def __init__(self, path: str | Path, *, write: bool = False):
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise InputError("is a file, not a run directory: choose another --out", path=str(self.path))
        self._lock: RunLock | None = None
        if write:
            with writing(self.path):
                self.path.mkdir(parents=True, exist_ok=True)
                self._lock = RunLock(self.path).acquire()
        self._cache: ItemCache | None = None
        #: Why the stored sidecar was not used (damaged, older version), for the user to see.
        self.meta, self.meta_problem = RunMeta.load(self.path / SIDECAR)

    # -- files -------------------------------------------------------------------------------
    def file(self, name: str | Artifact) -> Path:
        return self.path / (name.file if isinstance(name, Artifact) else name)

    def exists(self, name: str | Artifact) -> bool:
        return self.file(name).exists()

    def write_models(
        self, name: str | Artifact, models: Iterable[BaseModel], *, exclude: set[str] | None = None
    ) -> int:
        return atomic_write(self.file(name), (m.model_dump_json(exclude=exclude) for m in models))

    def write_through(self, name: str | Artifact, items: Iterable[T], dump: Callable[[T], str]) -> Iterator[T]:
        """Pass ``items`` on while writing ``dump(item)`` per line; the file appears once all passed."""
        with replacing(self.file(name)) as f:
            for item in items:
                f.write(dump(item))
                f.write("\n")
                yield item

    def write_binary(self, name: str | Artifact, write: Callable[[IO[bytes]], object]) -> None:
        """Write a binary file (NumPy, Parquet) through ``write(file)``, atomically."""
        with replacing(self.file(name), binary=True) as f:
            write(f)

    def write_array(self, name: str | Artifact, array: np.ndarray) -> None:
        self.write_binary(name, lambda f: np.save(f, np.ascontiguousarray(array, dtype=np.float32)))

    def read_array(self, name: str | Artifact) -> np.ndarray:
        """A float32 array, memory-mapped: a million vectors cost no memory until read."""
        return np.load(self.file(name), mmap_mode="r")

    def read_models(self, name: str | Artifact, model: type[M]) -> list[M]:
        return list(self.iter_models(name, model))

    def iter_models(self, name: str | Artifact, model: type[M]) -> Iterator[M]:
        with open(self.file(name), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield model.model_validate_json(line)

    def write_json(self, name: str | Artifact, value: Any) -> None:
        atomic_write(self.file(name), [json.dumps(value, indent=2, ensure_ascii=False, default=str)])

    # -- stages ------------------------------------------------------------------------------
    def reusable(self, stage: str, fingerprint: str) -> StageRecord | None:
        """The record of ``stage`` if it finished with this fingerprint and its file is intact."""
        record = self.meta.stages.get(stage)
        if record is None or not record.complete or record.fingerprint != fingerprint:
            return None
        for name, digest in record.files.items():
            path = self.file(name)
            try:
                if path.stat().st_size != digest.size or file_digest(path) != digest.sha256:
                    return None
            except OSError:
                return None
        return record

    def record_stage(self, stage: str, fingerprint: str, outputs: Iterable[Artifact], **info: Any) -> StageRecord:
        """Note that ``stage`` wrote ``outputs`` with this fingerprint (their digests are taken now)."""
        files = {}
        for artifact in outputs:
            path = self.file(artifact)
            with writing(path):
                files[artifact.file] = FileDigest(size=path.stat().st_size, sha256=file_digest(path))
        record = StageRecord(fingerprint=fingerprint, files=files, **info)
        self.meta.stages[stage] = record
        self.save_meta()
        return record

    def save_meta(self) -> None:
        self.meta.updated_at = now()
        self.write_json(SIDECAR, self.meta.model_dump(mode="json"))

    # -- failures ----------------------------------------------------------------------------
    def write_failures(self, failures: Iterable[Failure]) -> None:
        atomic_write(self.file(artifacts.ERRORS), (f.model_dump_json() for f in failures))

    def read_failures(self) -> list[Failure]:
        if not self.exists(artifacts.ERRORS):
            return []
        out = []
        with open(self.file(artifacts.ERRORS), encoding="utf-8") as f:
            for line in f:
                try:
                    out.append(Failure.model_validate_json(line))
                except ValidationError:
                    continue  # a damaged line: the failure it named is retried anyway
        return out

    # -- cache -------------------------------------------------------------------------------
    @property
    def cache(self) -> ItemCache:
        if self._cache is None:
            self._cache = ItemCache(self.file(artifacts.CACHE))
        return self._cache

    def close(self) -> None:
        try:
            if self._cache is not None:
                self._cache.close()
                self._cache = None
        finally:
            if self._lock is not None:
                self._lock.release()
                self._lock = None


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / SIDECAR).is_file()
