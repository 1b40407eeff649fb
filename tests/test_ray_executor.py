"""Per-item work on Ray Data (``--executor ray``): a real local Ray, started once for the module.

The same run in this process and on Ray gives the same summaries, vectors, clusters and stage
fingerprints; a failing item is recorded as failed on Ray exactly as in this process.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kura
from kura.runner.ray_executor import RayExecutor, RemoteError, _packed
from kura.stages.summarise import ExtractiveSummariser
from kura.types import Conversation, GeneratedSummary, Message

DEMO = Path(__file__).resolve().parents[1] / "data" / "oasst_en100.jsonl"
SETTINGS: dict[str, Any] = dict(embedder="hashing", projector="pca", clusters_per_group=8)

ray = pytest.importorskip("ray", reason="the Ray executor needs `pip install 'kura[ray]'`")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray of two CPUs, for this module only (starting one takes several seconds)."""
    # "local": a new instance even if this machine has a `ray start` cluster (ray.init() would join it).
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


class PidSummariser(ExtractiveSummariser):
    """The extractive summariser, noting in each summary's facets which process made it."""

    async def summarise_one(self, conversation: Conversation) -> GeneratedSummary:
        summary = await super().summarise_one(conversation)
        return summary.model_copy(update={"topic": str(os.getpid())})


def _run_both(tmp_path: Path, inputs: Any, **settings: Any) -> tuple[kura.RunResult, kura.RunResult]:
    here = kura.run(inputs, tmp_path / "here", **SETTINGS, **settings)
    there = kura.run(inputs, tmp_path / "ray", executor="ray", **SETTINGS, **settings)
    return here, there


@pytest.mark.slow  # a local Ray starts once for the module: about 7 s
def test_a_run_on_ray_gives_what_a_run_in_process_gives(local_ray: None, tmp_path: Path) -> None:
    conversations = kura.load_conversations([DEMO])[:40]
    here, there = _run_both(tmp_path, conversations)
    assert len(there.summaries) == 40 and not there.failures
    assert [s.model_dump() for s in there.summaries] == [s.model_dump() for s in here.summaries]
    np.testing.assert_array_equal(np.load(tmp_path / "ray" / "vectors.npy"), np.load(tmp_path / "here" / "vectors.npy"))
    assert [(c.name, sorted(c.chat_ids)) for c in there.clusters] == [
        (c.name, sorted(c.chat_ids)) for c in here.clusters
    ]
    # Where the work ran is no setting of the results: every stage has the same fingerprint.
    assert {n: r.fingerprint for n, r in there.stages.items()} == {n: r.fingerprint for n, r in here.stages.items()}
    assert json.loads((tmp_path / "ray" / "run.json").read_text())["config"]["executor"] == "ray"


@pytest.mark.slow  # a local Ray starts once for the module: about 7 s
def test_the_work_really_runs_in_ray_workers(local_ray: None, tmp_path: Path) -> None:
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import tests/
    conversations = kura.load_conversations([DEMO])[:20]
    result = kura.run(conversations, tmp_path / "run", summariser=PidSummariser(), executor="ray", **SETTINGS)
    workers = {s.topic for s in result.summaries}
    assert len(result.summaries) == 20 and str(os.getpid()) not in workers


@pytest.mark.slow  # a local Ray starts once for the module: about 7 s
def test_a_failing_item_on_ray_is_recorded_as_in_process(local_ray: None, tmp_path: Path) -> None:
    conversations = kura.load_conversations([DEMO])[:30]
    silent = Conversation(chat_id="only-the-assistant", messages=[Message(role="assistant", content="Hello!")])
    here, there = _run_both(tmp_path, [*conversations[:10], silent, *conversations[10:]])
    assert [(f.id, f.stage, f.error) for f in there.failures] == [(f.id, f.stage, f.error) for f in here.failures]
    assert [f.id for f in there.failures] == ["only-the-assistant"]
    assert "no user message" in there.failures[0].error
    assert len(there.summaries) == 30
    assert not there.stages["summarise"].complete  # the next run tries it again
    errors = (tmp_path / "ray" / "errors.jsonl").read_text()
    assert "only-the-assistant" in errors


def test_an_exception_that_cannot_travel_comes_back_as_its_text() -> None:
    class Local(Exception):  # defined in a function: pickle cannot find it by name
        pass

    back = pickle.loads(_packed(Local("the server said no")))
    assert isinstance(back, RemoteError) and str(back) == "Local: the server said no"
    assert pickle.loads(_packed(ValueError("plain"))).args == ("plain",)


@pytest.mark.slow  # a local Ray starts once for the module: about 7 s
def test_items_are_read_in_chunks_and_all_come_back(local_ray: None) -> None:
    import asyncio

    read = 0

    def items() -> Iterator[int]:
        nonlocal read
        for n in range(40):
            read += 1
            yield n

    async def square(n: int) -> int:
        if n == 13:
            raise ValueError("thirteen")
        return n * n

    async def collect() -> tuple[dict[int, Any], int]:
        executor = RayExecutor(batches_per_chunk=2)  # chunks of 2 batches of 4 items
        got: dict[int, Any] = {}
        read_at_first = -1
        async for item, outcome in executor.map(square, items(), limit=4):
            read_at_first = read if read_at_first < 0 else read_at_first
            got[item] = outcome
        return got, read_at_first

    got, read_at_first = asyncio.run(collect())
    assert read_at_first == 8  # the first chunk only: a huge input is never all in memory
    assert {k: v for k, v in got.items() if k != 13} == {n: n * n for n in range(40) if n != 13}
    assert isinstance(got[13], ValueError) and str(got[13]) == "thirteen"


@pytest.mark.slow
def test_classifying_with_a_language_model_on_ray_decides_as_in_process(local_ray: None, tmp_path: Path) -> None:
    from kura.llm import FakeLLM
    from kura.runner.classify import classify

    conversations = kura.load_conversations([DEMO])
    taxonomy = tmp_path / "taxonomy"
    kura.run(conversations[:60], taxonomy, **SETTINGS)
    new = conversations[60:80]
    here = classify(taxonomy, new, tmp_path / "here", llm=FakeLLM())
    there = classify(taxonomy, new, tmp_path / "ray", llm=FakeLLM(), executor="ray")
    decided = [(a.chat_id, a.cluster_id, a.unassigned, a.decided_by) for a in there.assignments]
    assert decided == [(a.chat_id, a.cluster_id, a.unassigned, a.decided_by) for a in here.assignments]
    assert len(decided) == 20 and {d for *_, d in decided} == {"llm"}


@pytest.mark.slow  # a local Ray starts once for the module: about 7 s
def test_language_model_usage_on_ray_workers_is_counted_as_in_process(local_ray: None, tmp_path: Path) -> None:
    from kura.llm import FakeLLM

    conversations = kura.load_conversations([DEMO])[:30]
    here = kura.run(conversations, tmp_path / "here", llm=FakeLLM(), **SETTINGS)
    there = kura.run(conversations, tmp_path / "ray", llm=FakeLLM(), executor="ray", **SETTINGS)
    assert here.usage is not None and there.usage is not None
    summarised = there.usage["stages"]["summarise"]
    # Every summary was asked for on a worker, and each request's tokens came back with it.
    assert summarised["requests"] == 30 and summarised["input_tokens"] > 0 and summarised["output_tokens"] > 0
    assert there.usage == here.usage
    recorded = json.loads((tmp_path / "ray" / "run.json").read_text())["usage"]
    assert recorded["stages"]["summarise"] == summarised
