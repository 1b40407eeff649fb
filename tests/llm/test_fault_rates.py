"""Whole runs against an OpenAI-compatible server where one call in five goes wrong (429 with
Retry-After, 500, a hang past the timeout, a body that is not JSON, JSON that is not an answer):
every conversation ends summarised or listed as failed with its error, and a re-run with the
faults gone completes exactly the failed ones and ends where a run that never saw a fault ends.

The single-request behaviour of each fault is in test_http_faults.py; these are the run-level sums.
"""

from __future__ import annotations

import json
import random
import re

import pytest
from kura_testdata import clinc_slice

import kura
from kura.llm import RetryPolicy, get_llm
from kura.llm.embeddings import OpenAIEmbedder
from kura.llm.fake_server import FakeOpenAIServer
from kura.types import Conversation, Message

RATE = 0.2
#: Each fault, and what its error says once it is the last straw (no retry left).
FAULTS = {
    "429:1": r"ProviderError: .*HTTP 429",
    "500": r"ProviderError: .*HTTP 500",
    "stall:2": r"ProviderError: .*no answer within 0.5 s",
    "garbage": r"ProviderError: .*HTTP 200 with a body that is not JSON",
    "malformed": r"InvalidOutputError: .*the reply is not valid JSON",
    "invalid": r"InvalidOutputError: .*summary: Field required",
}


@pytest.fixture(scope="module")
def conversations() -> list[Conversation]:
    return [
        Conversation(chat_id=r["id"], messages=[Message(role="user", content=r["messages"][0]["content"])])
        for r in clinc_slice(1)[:60]
    ]


def fault_plan(n: int, seed: int) -> list[str]:
    """``n`` requests' fates: a fifth of them (seeded) get a fault, the kinds taken in turn."""
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(n), round(n * RATE)))
    kinds = list(FAULTS)
    plan = [""] * n  # "" is a normal answer
    for turn, index in enumerate(chosen):
        plan[index] = kinds[turn % len(kinds)]
    return plan


def run(conversations, out, server, *, attempts: int, validation_retries: int):
    retry = RetryPolicy(max_attempts=attempts, base_delay=0.01, max_delay=0.05)
    llm = get_llm(
        "openai/fault-test",
        base_url=server.url,
        api_key="sk-test-faults",
        timeout=0.5,
        max_concurrency=8,
        retry=retry,
        validation_retries=validation_retries,
    )
    embedder = OpenAIEmbedder(
        "text-embedding-3-small",
        base_url=server.url,
        api_key="sk-test-faults",
        request_size=5,
        timeout=0.5,
        retry=retry,
    )
    return kura.run(conversations, out, llm=llm, embedder=embedder, projector="pca", clusters_per_group=6, seed=3)


def placed(out) -> dict[str, tuple[float, float]]:
    import pyarrow.parquet as pq

    table = pq.read_table(out / "conversations.parquet", columns=["chat_id", "x", "y"]).to_pydict()
    assert len(set(table["chat_id"])) == len(table["chat_id"])
    return dict(zip(table["chat_id"], zip(table["x"], table["y"])))


def summaries(out) -> dict[str, str]:
    rows = [json.loads(line) for line in (out / "summaries.jsonl").read_text().splitlines()]
    assert len({r["chat_id"] for r in rows}) == len(rows)
    return {r["chat_id"]: r["summary"] for r in rows}


def test_without_retries_each_fault_fails_its_conversation_with_its_error_and_a_rerun_completes(
    conversations, tmp_path
):
    ids = {c.chat_id for c in conversations}
    plan = fault_plan(len(conversations), seed=11)
    with FakeOpenAIServer(faults=plan) as server:  # summaries are asked first: one fate per conversation
        first = run(conversations, tmp_path / "run", server, attempts=1, validation_retries=0)
        served = [k for k in plan if k]
        assert sum(server.counts[f"fault:{k}"] for k in FAULTS) == len(served) == 12
        failed = {f["id"]: f["error"] for f in first.failures if f["stage"] == "summarise"}
        assert len(failed) == len(served) and ids == set(failed) | {s.chat_id for s in first.summaries}
        assert not set(failed) & {s.chat_id for s in first.summaries}
        # Each failure names what went wrong: the errors match the faults served, kind for kind.
        kinds = [next((k for k, pattern in FAULTS.items() if re.search(pattern, e)), e) for e in failed.values()]
        assert sorted(kinds) == sorted(served), failed
        recorded = [json.loads(line) for line in (tmp_path / "run" / "errors.jsonl").read_text().splitlines()]
        assert {r["id"]: r["error"] for r in recorded if r["stage"] == "summarise"} == failed
        assert set(placed(tmp_path / "run")) == ids - set(failed)  # the rest are on the map

        second = run(conversations, tmp_path / "run", server, attempts=1, validation_retries=0)
        assert second.usage["stages"]["summarise"]["requests"] == len(failed)  # exactly the failed ones
        assert not second.failures and {s.chat_id for s in second.summaries} == ids
        clean = run(conversations, tmp_path / "clean", server, attempts=1, validation_retries=0)
    assert summaries(tmp_path / "run") == summaries(tmp_path / "clean")
    assert placed(tmp_path / "run") == placed(tmp_path / "clean")
    names = [(c.id, c.name, sorted(c.chat_ids)) for c in second.clusters]
    assert names == [(c.id, c.name, sorted(c.chat_ids)) for c in clean.clusters]


def test_with_retries_a_fifth_of_all_calls_failing_still_ends_complete(conversations, tmp_path):
    ids = {c.chat_id for c in conversations}
    with FakeOpenAIServer(
        faults=fault_plan(400, seed=12), embedding_faults=[k for k in fault_plan(60, seed=13) if "invalid" not in k]
    ) as server:
        first = run(conversations, tmp_path / "run", server, attempts=4, validation_retries=2)
        for kind in FAULTS:  # every kind was served, to the summaries and the names alike
            assert server.counts[f"fault:{kind}"] > 0, kind
        assert server.counts["embeddings"] > len(conversations) / 5  # 12 batches of 5, and retries
        failed = {f["id"] for f in first.failures}
        assert all(f["error"] for f in first.failures)
        assert ids == {s.chat_id for s in first.summaries} | failed
        assert ids - failed <= set(placed(tmp_path / "run"))
        usage = first.usage["stages"]
        assert usage["summarise"]["retries"] > 0 and usage["summarise"]["requests"] > len(conversations)
        server.faults.clear()
        server.embedding_faults.clear()
        second = run(conversations, tmp_path / "run", server, attempts=4, validation_retries=2)
        assert not second.failures and set(placed(tmp_path / "run")) == ids
        asked = second.usage["stages"].get("summarise", {}).get("requests", 0)
        assert asked == len({f["id"] for f in first.failures if f["stage"] == "summarise"})
