"""Where per-item work runs: the executor seam under the runner.

A per-item stage hands the executor a function and the items it must compute (cache hits never
reach it: caching, ordering, progress and failure records stay with the stage, in this
process). The function depends only on its parameters and the item (a component's bound method,
or a ``functools.partial`` of a module-level function over a component), so an executor may run it
anywhere: in this event loop (:class:`InProcess`, the default), or on a cluster, which only has to
ship the function and the items and send back each result or exception.
"""

from __future__ import annotations

import asyncio
import itertools
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import TypeVar

from kura.errors import ConfigError

T = TypeVar("T")
R = TypeVar("R")


class Executor(ABC):
    @abstractmethod
    def map(
        self, function: Callable[[T], Awaitable[R]], items: Iterable[T], *, limit: int
    ) -> AsyncIterator[tuple[T, R | Exception]]:
        """Apply ``function`` to every item, at most ``limit`` in flight; yield each item with its
        result, or the exception it raised, as each finishes (in any order). ``items`` is read
        lazily: a huge input is never all in memory."""


class InProcess(Executor):
    """A sliding window of tasks in this event loop: up to ``limit`` in flight, a new item
    started as each finishes. Unlike fixed batches, one slow item never holds back the rest."""

    name = "in-process"

    async def map(
        self, function: Callable[[T], Awaitable[R]], items: Iterable[T], *, limit: int
    ) -> AsyncIterator[tuple[T, R | Exception]]:
        iterator = iter(items)
        pending: dict[asyncio.Future[R], T] = {}

        def fill() -> None:
            for item in itertools.islice(iterator, max(1, limit) - len(pending)):
                pending[asyncio.ensure_future(function(item))] = item

        try:
            fill()
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    item = pending.pop(task)
                    error = task.exception()
                    if error is not None and not isinstance(error, Exception):
                        raise error  # KeyboardInterrupt, cancellation: stop, never record
                    yield item, (error if error is not None else task.result())
                fill()
        finally:  # the consumer stopped early (an error, a kill): leave nothing running
            for task in pending:
                task.cancel()


class OnFirstItem(Executor):
    """``executor``, calling ``start`` once when the first item reaches it: from then on the
    stage waits on work no cache answered (a language model, a cluster), and this process has
    time to spare."""

    def __init__(self, executor: Executor, start: Callable[[], None]):
        self.executor = executor
        self.start = start

    async def map(
        self, function: Callable[[T], Awaitable[R]], items: Iterable[T], *, limit: int
    ) -> AsyncIterator[tuple[T, R | Exception]]:
        def announced() -> Iterator[T]:
            started = False
            for item in items:
                if not started:
                    started = True
                    self.start()
                yield item

        async for pair in self.executor.map(function, announced(), limit=limit):
            yield pair


#: The executors a run can name (``kura run --executor``).
EXECUTORS = {
    "in-process": "this process (the default)",
    "ray": "a Ray cluster through Ray Data (pip install 'kura[ray]'; --ray-address, docs/distributed.md)",
}


def get_executor(executor: str | Executor = "in-process", *, ray_address: str | None = None) -> Executor:
    """The executor a run names (or the one it was given)."""
    if ray_address is not None and executor != "ray":
        raise ConfigError(f"ray_address={ray_address!r} is for the Ray executor: add --executor ray")
    if isinstance(executor, Executor):
        return executor
    if executor == "ray":
        from kura.runner.ray_executor import RayExecutor

        return RayExecutor(ray_address)
    if executor == "in-process":
        return InProcess()
    raise ConfigError(f"executor={executor!r} is unknown: use one of {', '.join(EXECUTORS)}")
