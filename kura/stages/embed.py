"""Stage 2: embed texts, reusing cached vectors item by item."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from kura.embedders.base import encode_each
from kura.errors import StageError
from kura.runner.executor import Executor, InProcess
from kura.runner.params import fingerprint
from kura.store.cache import ItemCache, content_key

CACHE_NAMESPACE = "vector"


async def embed_texts(
    texts: list[str],
    embedder: Any,
    *,
    cache: ItemCache | None = None,
    batch_size: int = 256,
    on_batch: Callable[[int], None] | None = None,
    failures: dict[int, str] | None = None,
    executor: Executor | None = None,
) -> np.ndarray:
    """Vectors for ``texts`` (rows in the same order). Identical texts are embedded once.

    Cached vectors are answered here; the missing texts go to the ``executor`` (in this process
    by default) in batches of ``batch_size``, one batch at a time: embedding is CPU-bound here,
    and an executor with more machines than one runs more.

    A text the embedder could not embed gets no row and no cache entry: with ``failures`` given,
    its position goes there with the reason and the rows are those of the other texts, in
    order; without it, the first such failure raises ``StageError``.
    """
    name = fingerprint(embedder)
    keys = [content_key(name, t) for t in texts]
    unique = dict(zip(keys, texts))
    copies = Counter(keys)  # progress counts texts, not unique texts
    known = cache.get_vectors(CACHE_NAMESPACE, unique) if cache is not None else {}
    if on_batch and known:
        on_batch(sum(copies[k] for k in known))
    missing = [k for k in unique if k not in known]
    failed: dict[str, str] = {}
    batches = (
        [(k, unique[k]) for k in missing[start : start + batch_size]] for start in range(0, len(missing), batch_size)
    )
    executor = executor or InProcess()
    async for batch, outcome in executor.map(partial(_encode_batch, embedder), batches, limit=1):
        if isinstance(outcome, Exception):
            raise outcome  # encode_each turns an item's failure into an error entry: this is a bug
        vectors, errors = outcome
        chunk = [k for k, _ in batch]
        fresh = {chunk[i]: vector for i, vector in vectors.items()}
        failed.update((chunk[i], error) for i, error in errors.items())
        known.update(fresh)
        if cache is not None:
            cache.put_vectors(CACHE_NAMESPACE, fresh)
        if on_batch:
            on_batch(sum(copies[k] for k in chunk))
    if cache is not None:
        cache.flush()
    if failed and failures is None:
        raise StageError("embed", f"{len(failed)} texts could not be embedded, first: {next(iter(failed.values()))}")
    if failures is not None:
        failures.update((i, failed[k]) for i, k in enumerate(keys) if k in failed)
    rows = [known[k] for k in keys if k not in failed]
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.vstack(rows).astype(np.float32, copy=False)


async def _encode_batch(embedder: Any, batch: list[tuple[str, str]]) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    """The per-item work an executor runs: one batch of (key, text), nothing else."""
    return encode_each(embedder, [text for _, text in batch])
