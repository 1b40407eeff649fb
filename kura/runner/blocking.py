"""The synchronous twin of an ``async`` entry point (``kura.run`` of ``kura.run_async``...)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

R = TypeVar("R")


def blocking(function: Callable[..., Coroutine[Any, Any, R]], name: str) -> Callable[..., R]:
    """``function`` run to the end in a new event loop: the same arguments, signature and docs.

    Where this thread already runs a loop (a Jupyter notebook, Playwright's sync API), that loop
    cannot run another to the end, so the call runs in a thread of its own and waits for it, as
    any synchronous call does; in async code, awaiting the async one keeps the loop free."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> R:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(function(*args, **kwargs))
        return _in_own_thread(lambda: function(*args, **kwargs))

    call.__name__ = call.__qualname__ = name.rpartition(".")[2]
    return call


def _in_own_thread(make: Callable[[], Coroutine[Any, Any, R]]) -> R:
    """Run ``make()`` in a new loop on a new thread; Ctrl-C in the caller cancels it there."""
    loop = asyncio.new_event_loop()

    def work() -> R:
        asyncio.set_event_loop(loop)
        try:
            return loop.run_until_complete(make())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    with ThreadPoolExecutor(1, thread_name_prefix="kura-blocking") as pool:
        future = pool.submit(work)
        try:
            return future.result()
        except KeyboardInterrupt:
            # Cancel the work where it runs (its loop's tasks), then wait for it to stop, so an
            # interrupted run leaves its files as a killed one would: resumable.
            if not loop.is_closed():
                loop.call_soon_threadsafe(lambda: [task.cancel() for task in asyncio.all_tasks(loop)])
            raise
