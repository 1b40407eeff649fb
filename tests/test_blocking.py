"""``kura.run`` and ``kura.classify`` are plain calls, also where a loop already runs (a notebook)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kura_testdata import DEMO_DATA

import kura
from kura.errors import InputError
from kura.runner.blocking import blocking


async def _where(value: int) -> tuple[int, str]:
    await asyncio.sleep(0)
    return value * 2, threading.current_thread().name


async def _fails() -> None:
    raise InputError("data.jsonl: line 3 is not JSON")


where = blocking(_where, "where")
fails = blocking(_fails, "fails")


def on_fresh_thread(function: Any) -> Any:
    """``function()`` on a thread with no loop of its own (this one may have one: Playwright's)."""
    with ThreadPoolExecutor(1, thread_name_prefix="fresh") as pool:
        return pool.submit(function).result()


def notebook(cell: Any) -> Any:
    """Run ``cell`` (a coroutine function) as Jupyter runs a cell: inside a running loop."""
    return on_fresh_thread(lambda: asyncio.run(cell()))


def test_outside_a_loop_it_runs_in_the_callers_thread():
    value, thread = on_fresh_thread(lambda: where(21))
    assert value == 42 and thread.startswith("fresh")


def test_inside_a_running_loop_it_runs_in_a_thread_of_its_own_and_returns():
    async def cell() -> tuple[int, str]:
        return where(21)  # a synchronous call from code a loop is running

    value, thread = notebook(cell)
    assert value == 42 and thread.startswith("kura-blocking")


def test_inside_a_running_loop_errors_come_back_as_they_are():
    async def cell() -> None:
        fails()

    with pytest.raises(InputError, match="line 3 is not JSON"):
        notebook(cell)


def test_kura_run_inside_a_running_loop(tmp_path):
    async def cell() -> kura.RunResult:
        return kura.run([str(DEMO_DATA)], tmp_path / "run", embedder="hashing", projector="pca")

    result = notebook(cell)
    assert len(result.clusters) > 1 and (tmp_path / "run" / "clusters.jsonl").exists()
