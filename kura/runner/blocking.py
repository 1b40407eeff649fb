"""The synchronous twin of an ``async`` entry point (``kura.run`` of ``kura.run_async``...)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from kura.errors import ConfigError

R = TypeVar("R")


def blocking(function: Callable[..., Coroutine[Any, Any, R]], name: str) -> Callable[..., R]:
    """``function`` run to the end in a new event loop: the same arguments, signature and docs.

    Inside a running loop (a notebook, a server) it refuses with a clear error rather than
    blocking that loop: await the async one there."""

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> R:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(function(*args, **kwargs))
        raise ConfigError(f"{name}() was called inside an event loop: use `await {function.__name__}(...)`")

    call.__name__ = call.__qualname__ = name.rpartition(".")[2]
    return call
