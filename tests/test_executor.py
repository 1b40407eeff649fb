"""The executor seam: per-item work depends only on its function and the item, so it runs
anywhere. Shown with a real process pool (spawned: nothing shared with this process)."""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

import kura
from kura.runner.executor import Executor, InProcess

DEMO = Path(__file__).resolve().parents[1] / "data" / "oasst_en100.jsonl"


def _run_shipped(payload: bytes) -> Any:
    function, item = pickle.loads(payload)
    return asyncio.run(function(item))


class ProcessPool(Executor):
    """Ships each (function, item) to another process as bytes, as a cluster executor would."""

    def __init__(self, pool: ProcessPoolExecutor):
        self.pool = pool
        self.shipped = 0

    async def map(  # type: ignore[override]
        self, function: Callable[[Any], Awaitable[Any]], items: Iterable[Any], *, limit: int
    ) -> AsyncIterator[tuple[Any, Any]]:
        loop = asyncio.get_running_loop()
        futures = []
        for item in items:
            self.shipped += 1
            futures.append((item, loop.run_in_executor(self.pool, _run_shipped, pickle.dumps((function, item)))))
        for item, future in reversed(futures):  # any order is allowed: give them back reversed
            try:
                yield item, await future
            except Exception as exc:  # noqa: BLE001
                yield item, exc


def test_a_run_whose_per_item_work_is_shipped_to_other_processes_gives_the_same_result(tmp_path: Path) -> None:
    settings = dict(embedder="hashing", projector="pca", clusters_per_group=8)
    here = kura.run(DEMO, tmp_path / "here", **settings)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        executor = ProcessPool(pool)
        there = kura.run(DEMO, tmp_path / "there", executor=executor, **settings)
    assert executor.shipped == 100 + 1  # every conversation, and the one batch of summaries to embed
    assert [s.model_dump() for s in there.summaries] == [s.model_dump() for s in here.summaries]
    assert [(c.name, sorted(c.chat_ids)) for c in there.clusters] == [
        (c.name, sorted(c.chat_ids)) for c in here.clusters
    ]
    np.testing.assert_array_equal(
        np.load(tmp_path / "there" / "vectors.npy"), np.load(tmp_path / "here" / "vectors.npy")
    )


def test_in_process_yields_each_result_or_exception_and_keeps_the_window() -> None:
    in_flight = 0
    most = 0

    async def work(n: int) -> int:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.001 * (n % 3))
        in_flight -= 1
        if n == 7:
            raise ValueError("seven")
        return n * n

    async def collect() -> dict[int, Any]:
        return {item: outcome async for item, outcome in InProcess().map(work, range(20), limit=4)}

    got = asyncio.run(collect())
    assert {k: v for k, v in got.items() if k != 7} == {n: n * n for n in range(20) if n != 7}
    assert isinstance(got[7], ValueError) and most == 4


def test_in_process_cancels_what_is_in_flight_when_the_consumer_stops() -> None:
    started: list[int] = []
    cancelled: list[int] = []

    async def work(n: int) -> int:
        started.append(n)
        try:
            await asyncio.sleep(0 if n == 0 else 10)
        except asyncio.CancelledError:
            cancelled.append(n)
            raise
        return n

    async def first() -> None:
        stream = InProcess().map(work, range(100), limit=3)
        async for _ in stream:
            break
        await stream.aclose()
        await asyncio.sleep(0)

    asyncio.run(first())
    assert started == [0, 1, 2]  # the window, and nothing started after the consumer stopped
    assert sorted(cancelled) == [1, 2]


def test_identical_conversations_in_flight_share_one_call(tmp_path: Path) -> None:
    from slow_summariser import LoggingSummariser

    twins = [
        kura.Conversation(chat_id=f"twin-{i}", messages=[kura.Message(role="user", content="How do I sort a list?")])
        for i in range(5)
    ]
    others = kura.load_conversations([DEMO])[:20]
    log = tmp_path / "calls.log"
    # The summariser really waits, so all five twins are in flight at once.
    result = kura.run(
        twins + others,
        tmp_path / "run",
        summariser=LoggingSummariser(str(log), delay=0.01),
        embedder="hashing",
        projector="pca",
    )
    calls = log.read_text().split()
    assert sum(c.startswith("twin-") for c in calls) == 1 and len(calls) == 21
    assert {s.chat_id for s in result.summaries} >= {t.chat_id for t in twins}


def test_components_that_made_things_at_run_time_still_ship(tmp_path: Path) -> None:
    """A model session, a run directory's cache, connection pools, locks: made again where the
    copy lands, so a used embedder or language model can be sent to a cluster's workers."""
    from kura.embedders import get_embedder
    from kura.llm import LLMSummariser, get_llm
    from kura.store.run import RunStore

    embedder = get_embedder("minilm")
    before = embedder.encode(["how do I sort a list in python"])
    llm = get_llm("openai/gpt-4o-mini", base_url="http://127.0.0.1:9/v1")

    async def open_a_pool() -> None:
        llm._client()._pool()  # type: ignore[attr-defined]

    asyncio.run(open_a_pool())
    store = RunStore(tmp_path / "run", write=True)
    llm.use_cache(store.cache)
    try:
        embedder_copy, summariser_copy = pickle.loads(pickle.dumps((embedder, LLMSummariser(llm))))
    finally:
        store.close()
    np.testing.assert_array_equal(embedder_copy.encode(["how do I sort a list in python"]), before)
    assert summariser_copy.llm._cache is None and summariser_copy.fingerprint() == LLMSummariser(llm).fingerprint()


def test_on_first_item_starts_once_when_work_reaches_the_executor_and_passes_results_through() -> None:
    from kura.runner.executor import OnFirstItem

    started: list[int] = []

    async def square(n: int) -> int:
        return n * n

    async def collect(items: Iterable[int]) -> dict[int, Any]:
        executor = OnFirstItem(InProcess(), lambda: started.append(len(started)))
        return {item: outcome async for item, outcome in executor.map(square, items, limit=3)}

    assert asyncio.run(collect([])) == {} and started == []  # everything came from the cache
    assert asyncio.run(collect(range(10))) == {n: n * n for n in range(10)}
    assert started == [0]
