"""Per-item work on Ray Data, for inputs larger than one machine (``--executor ray``).

The stage stays in this process (the driver): it reads the inputs, answers cache hits, keeps
the order, the progress bar and the failure records. Only the misses travel: they are read from
the stage in chunks (a huge input is never all in the driver's memory), each chunk becomes a
Ray dataset, and ``map_batches`` runs the item function on batches of ``limit`` items across the
cluster. A worker runs a batch's items concurrently in its own event loop (the function is
async: an LLM call, an embedding batch) and sends back each item's result or the exception it
raised, so a failed item is recorded exactly as in this process. The language-model and
embedding usage a batch counted on the worker's copies of the components comes back with it and
is added to this process's meters, so a run's tokens and cost are the same wherever it ran.
Ray schedules, retries lost tasks and spreads the load; nothing here does.

``ray`` is imported only when a map starts: ``pip install 'kura[ray]'``. See docs/distributed.md.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import pickle
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from functools import partial
from typing import Any, TypeVar

from kura.errors import ConfigError, KuraError, missing_package
from kura.llm.usage import UsageMeter, meters_of
from kura.runner.executor import Executor

T = TypeVar("T")
R = TypeVar("R")

#: Ray batches per chunk of items sent to the cluster at once: enough to keep many workers busy,
#: few enough that the driver holds only a slice of a huge input.
BATCHES_PER_CHUNK = 64


class RemoteError(Exception):
    """An item's exception that could not be sent back as itself (it does not pickle)."""


class RayExecutor(Executor):
    """Runs per-item work on a Ray cluster through Ray Data's ``map_batches``.

    ``address`` is Ray's: None joins the cluster ``RAY_ADDRESS`` names or one started on this
    machine by ``ray start``, else starts a local Ray; ``"local"`` always starts a local Ray;
    ``"auto"`` joins the cluster this machine belongs to, ``"ray://host:10001"`` connects
    through Ray Client. ``runtime_env`` goes to ``ray.init`` (say ``{"pip": ["kura"]}`` when the
    cluster's image has no Kura). ``remote_args`` go to ``map_batches`` (``num_cpus``,
    ``num_gpus``, ``concurrency``...). If Ray is already initialised, it is used as it is.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        runtime_env: dict[str, Any] | None = None,
        remote_args: dict[str, Any] | None = None,
        batches_per_chunk: int = BATCHES_PER_CHUNK,
    ):
        self.address = address
        self.runtime_env = runtime_env
        self.remote_args = remote_args
        self.batches_per_chunk = batches_per_chunk

    @property
    def name(self) -> str:
        return f"ray ({self.address or 'local'})"

    async def map(
        self, function: Callable[[T], Awaitable[R]], items: Iterable[T], *, limit: int
    ) -> AsyncIterator[tuple[T, R | Exception]]:
        self._connect()
        batch_size = max(1, limit)
        iterator = iter(items)
        while chunk := list(itertools.islice(iterator, batch_size * max(1, self.batches_per_chunk))):
            async for position, outcome in self._run_chunk(function, chunk, batch_size):
                yield chunk[position], outcome

    def _connect(self) -> None:
        try:
            import ray
        except ImportError as exc:
            raise missing_package("ray", purpose="--executor ray", extra="ray") from exc
        if not ray.is_initialized():
            try:
                ray.init(address=self.address, runtime_env=self.runtime_env, logging_level=logging.WARNING)
            except (ConnectionError, ValueError) as exc:  # no cluster there, or Ray Client not installed
                raise ConfigError(f"Ray at {self.address or 'a new local instance'}: {_first_line(exc)}") from exc

    async def _run_chunk(
        self, function: Callable[[T], Awaitable[R]], chunk: list[T], batch_size: int
    ) -> AsyncIterator[tuple[int, R | Exception]]:
        import ray

        rows = [{"position": i, "item": pickle.dumps(item)} for i, item in enumerate(chunk)]
        batches = _chunk_batches(function, rows, batch_size, self.remote_args or {})
        while True:
            try:  # blocks arrive as they finish; waiting for one must not stall this event loop
                batch = await asyncio.to_thread(next, batches, None)
            except ray.exceptions.RayError as exc:  # a task Ray gave up on (not an item's failure)
                raise KuraError(
                    f"Ray could not run {_named(function)}: {_first_line(getattr(exc, 'cause', None) or exc)} "
                    "(every worker needs Kura and the modules your components come from: docs/distributed.md)"
                ) from exc
            if batch is None:
                return
            for counted in batch["usage"].to_pylist():
                if counted:  # one row per batch carries what the batch counted
                    for meter, worker_meter in zip(_meters(function), pickle.loads(counted)):
                        meter.merge(worker_meter)
            for position, payload in zip(batch["position"].to_pylist(), batch["outcome"].to_pylist()):
                yield position, pickle.loads(payload)


def _chunk_batches(
    function: Callable[[Any], Awaitable[Any]], rows: list[dict[str, Any]], batch_size: int, remote_args: dict[str, Any]
) -> Iterator[Any]:
    """The chunk's outcomes, a block at a time as Ray finishes them.

    Through Ray Client (``ray://``) the dataset cannot run here: Ray Data's streaming executor
    needs a process inside the cluster (Ray 2.60 fails in a client driver). There it runs in one
    task on the cluster and the chunk's outcomes come back together.
    """
    import ray

    if ray.util.client.ray.is_connected():
        yield from ray.get(ray.remote(_all_batches).remote(function, rows, batch_size, remote_args))
    else:
        yield from _dataset_batches(function, rows, batch_size, remote_args)


def _dataset_batches(
    function: Callable[[Any], Awaitable[Any]], rows: list[dict[str, Any]], batch_size: int, remote_args: dict[str, Any]
) -> Iterator[Any]:
    import ray.data

    # The stage draws its own progress bar and says what ran; Ray Data's bars and its notes on
    # each dataset would interleave with it (its warnings still show).
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    logging.getLogger("ray.data._internal.progress").setLevel(logging.ERROR)
    dataset = ray.data.from_items(rows, override_num_blocks=-(-len(rows) // batch_size)).map_batches(
        partial(_run_batch, function=function), batch_size=batch_size, batch_format="pyarrow", **remote_args
    )
    yield from dataset.iter_batches(batch_size=None, batch_format="pyarrow")


def _all_batches(*args: Any) -> list[Any]:
    return list(_dataset_batches(*args))


def _run_batch(batch: Any, function: Callable[[Any], Awaitable[Any]]) -> Any:
    """On a Ray worker: run a batch's items concurrently, each outcome pickled for the way back."""
    import pyarrow as pa

    items = [pickle.loads(payload) for payload in batch["item"].to_pylist()]
    meters = _meters(function)
    for meter in meters:  # a copy of the driver's: what it counted there is counted there
        meter.reset()

    async def gather() -> list[Any]:
        return await asyncio.gather(*(function(item) for item in items), return_exceptions=True)

    outcomes = [_packed(outcome) for outcome in asyncio.run(gather())]
    usage = [pickle.dumps(meters)] + [b""] * (len(outcomes) - 1)
    return pa.table(
        {
            "position": batch["position"],
            "outcome": pa.array(outcomes, type=pa.large_binary()),
            "usage": pa.array(usage, type=pa.large_binary()),
        }
    )


def _meters(function: Callable[..., Any]) -> list[UsageMeter]:
    """The usage meters of the components an item function works with (a ``functools.partial``
    over them, or a bound method), found alike on the driver and on a worker."""
    bound = [*getattr(function, "args", ()), *getattr(function, "keywords", {}).values()]
    inner = getattr(function, "func", function)
    return meters_of(getattr(inner, "__self__", None), *bound)


def _packed(outcome: Any) -> bytes:
    if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
        raise outcome  # cancellation, an interrupt: the task fails, it is not an item's failure
    try:
        payload = pickle.dumps(outcome)
        pickle.loads(payload)  # some exceptions pickle but cannot be rebuilt: find out here
        return payload
    except Exception:
        return pickle.dumps(RemoteError(f"{type(outcome).__name__}: {outcome}"))


def _named(function: Callable[..., Any]) -> str:
    inner = getattr(function, "func", function)  # a functools.partial: the function it wraps
    return getattr(inner, "__qualname__", repr(inner))


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
