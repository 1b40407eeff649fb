"""Malformed embedding replies from a real HTTP server on 127.0.0.1: retried like a 500, and when
they stay bad, the texts they were for are recorded failures, never vectors in the cache.

Shapes: a vector sent as a string, one vector a value short, a NaN, one vector too few, and
every vector of a dimension that differs from the earlier reply's.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from llm_data import topic_conversations

import kura
from kura.embedders import HashingEmbedder
from kura.llm import RetryPolicy
from kura.llm.embeddings import OpenAIEmbedder
from kura.llm.fake_server import FakeOpenAIServer
from kura.stages.embed import CACHE_NAMESPACE
from kura.store import ItemCache

QUICK = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)
TEXTS = ["python lists", "python loops", "banana bread", "sourdough starter", "tax forms", "pension plans"]
# Each fault spoils the second request (of two): "dim" needs an earlier reply to differ from.
SHAPES = ["string", "short", "nan", "missing", "dim"]


@pytest.fixture
def server():
    with FakeOpenAIServer() as running:
        yield running


def embedder(server: FakeOpenAIServer, request_size: int = 3) -> OpenAIEmbedder:
    # One request at a time, so the fault queue spoils a known request.
    return OpenAIEmbedder(
        "text-embedding-3-small", base_url=server.url, request_size=request_size, max_concurrency=1, retry=QUICK
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_a_malformed_reply_is_retried_and_the_good_one_used(server, shape):
    server.embedding_faults.extend(["", shape])
    model = embedder(server)
    vectors = model.encode(TEXTS)
    assert server.counts["embeddings"] == 3 and server.counts[f"fault:{shape}"] == 1
    assert model.usage.stage("embed").retries == 1
    assert np.allclose(vectors, HashingEmbedder(256).encode(TEXTS), atol=1e-4)


@pytest.mark.parametrize("shape", SHAPES)
def test_a_persistently_malformed_reply_is_a_recorded_failure_and_never_cached(server, tmp_path, shape):
    conversations = topic_conversations()
    out = tmp_path / "run"
    server.embedding_faults.extend(["", *[shape] * QUICK.max_attempts])  # the second request never recovers
    first = kura.run(conversations, out, embedder=embedder(server, 5), projector="pca", clusters_per_group=5)

    failed = [f for f in first.failures if f["stage"] == "embed"]
    assert len(failed) == 5 and server.counts["embeddings"] == len(conversations) // 5 + QUICK.max_attempts - 1
    assert all("malformed embeddings reply" in f["error"] for f in failed)
    recorded = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines()]
    assert [f for f in recorded if f["stage"] == "embed"] == [f.model_dump() for f in failed]
    assert len(first.summaries) == len(conversations) - 5
    assert {f["id"] for f in failed}.isdisjoint(s.chat_id for s in first.summaries)
    assert sum(len(c.chat_ids) for c in first.roots) == len(conversations) - 5
    with ItemCache(out / "cache.sqlite") as cache:
        assert cache.count(CACHE_NAMESPACE) == len(conversations) - 5

    # The next run asks only for the texts that failed, and places every conversation.
    sent = server.counts["embeddings"]
    second = kura.run(conversations, out, embedder=embedder(server, 5), projector="pca", clusters_per_group=5)
    assert not second.failures and len(second.summaries) == len(conversations)
    assert server.counts["embeddings"] == sent + 1
    assert sum(len(c.chat_ids) for c in second.roots) == len(conversations)


def test_every_text_failing_is_one_clear_error(server, tmp_path):
    server.embedding_faults.extend(["nan"] * 100)
    with pytest.raises(kura.KuraError, match="no summary could be embedded: .*NaN"):
        kura.run(topic_conversations(), tmp_path / "run", embedder=embedder(server, 5), projector="pca")
