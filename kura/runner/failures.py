"""Where failed items go: the runner opens a collector around each stage, components report to it.

A component (a namer, a hierarchy builder) that gives up on one item records it with
``record_failure`` and carries on with a stand-in; it keeps no list of its own, so one object
can serve several runs, even at once. The collector lives in a context variable, which asyncio
copies into every task a stage starts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from kura.store.meta import Failure

logger = logging.getLogger("kura")

_collector: ContextVar[list[Failure] | None] = ContextVar("kura_failures", default=None)


def record_failure(item_id: str, stage: str, error: str) -> None:
    """Note that ``item_id`` failed in ``stage``; outside a run it is only logged."""
    failure = Failure(id=item_id, stage=stage, error=error)
    sink = _collector.get()
    if sink is None:
        logger.warning("%s failed in %s: %s", item_id, stage, error)
    else:
        sink.append(failure)


@contextmanager
def collecting() -> Iterator[list[Failure]]:
    """Collect the failures recorded inside the block (nested blocks collect their own)."""
    sink: list[Failure] = []
    token = _collector.set(sink)
    try:
        yield sink
    finally:
        _collector.reset(token)
