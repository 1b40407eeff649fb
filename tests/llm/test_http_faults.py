"""The OpenAI-compatible provider against a real HTTP server on 127.0.0.1 that misbehaves on cue.

Every server binds a free port (port 0), every loop is bounded by attempts and time, and the
server stops by itself at the end of each test.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from llm_data import topic_conversations
from pydantic import BaseModel, Field

import kura
from kura.llm import InvalidOutputError, ProviderError, RetryPolicy, get_llm
from kura.llm.embeddings import OpenAIEmbedder
from kura.llm.fake_server import FakeOpenAIServer

QUICK = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2)
ASK = [
    {"role": "system", "content": "rules"},
    {"role": "user", "content": "<data>\nsay hello there\n</data>\n\nAnswer."},
]


class Answer(BaseModel):
    word: str
    score: int = Field(ge=1, le=5)


@pytest.fixture
def server():
    with FakeOpenAIServer() as running:
        yield running


def client(server: FakeOpenAIServer, **options):
    options.setdefault("retry", QUICK)
    return get_llm("openai/test-model", base_url=server.url, **options)


def ask(llm, model=Answer):
    async def go():
        try:
            return await llm.generate(ASK, model, stage="test")
        finally:
            await llm.aclose()

    return asyncio.run(go())


def test_a_plain_request_sends_the_schema_and_validates(server):
    llm = client(server)
    assert ask(llm) == Answer(word="say hello there", score=1)
    assert server.counts["chat"] == 1
    usage = llm.usage.stage("test")
    assert usage.requests == 1 and usage.input_tokens > 0 and usage.output_tokens > 0


def test_429_waits_for_retry_after(server):
    server.faults.extend(["429:1"])
    llm = client(server)
    start = time.monotonic()
    assert ask(llm).word
    assert time.monotonic() - start >= 1.0
    assert server.counts["chat"] == 2 and llm.usage.stage("test").retries == 1


def test_5xx_and_garbage_bodies_are_retried(server):
    server.faults.extend(["500", "garbage", "500"])
    assert ask(client(server)).word
    assert server.counts["chat"] == 4


def test_a_stalled_request_times_out_and_is_retried(server):
    server.faults.extend(["stall:5"])
    start = time.monotonic()
    assert ask(client(server, timeout=0.5)).word
    assert time.monotonic() - start < 4 and server.counts["chat"] == 2


def test_malformed_and_schema_invalid_json_are_asked_again(server):
    server.faults.extend(["malformed", "invalid"])
    llm = client(server)
    assert ask(llm).word
    assert server.counts["chat"] == 3 and llm.usage.stage("test").retries == 2


def test_retries_are_bounded(server):
    server.faults.extend(["500"] * 10)
    with pytest.raises(ProviderError, match="HTTP 500") as info:
        ask(client(server))
    assert info.value.attempts == 4 and server.counts["chat"] == 4


def test_invalid_output_is_bounded(server):
    server.faults.extend(["invalid"] * 10)
    with pytest.raises(InvalidOutputError):
        ask(client(server, validation_retries=2))
    assert server.counts["chat"] == 3


def test_a_server_without_structured_output_gets_the_schema_in_the_prompt(server):
    server.faults.extend(["no-schema"])
    llm = client(server)
    assert ask(llm).word
    assert ask(llm).word  # stays in JSON mode: no second refusal
    assert server.counts["chat"] == 3 and llm._mode == "json_object"


def test_an_unreachable_server_is_a_bounded_failure():
    with FakeOpenAIServer() as gone:
        url = gone.url
    llm = get_llm("openai/test-model", base_url=url, retry=QUICK)
    start = time.monotonic()
    with pytest.raises(ProviderError, match="connection failed"):
        ask(llm)
    assert time.monotonic() - start < 3


def test_api_keys_never_reach_errors_files_or_cache_keys(server, tmp_path):
    secret = "sk-test-very-secret-123456"
    server.faults.extend(["500"] * 4)
    llm = client(server, api_key=secret)
    with pytest.raises(ProviderError) as info:
        ask(llm)
    assert secret not in str(info.value)
    result = kura.run(
        topic_conversations()[:10],
        tmp_path / "run",
        llm=client(server, api_key=secret),
        embedder="hashing",
        projector="pca",
        clusters_per_group=5,
    )
    assert not result.failures
    for path in (tmp_path / "run").iterdir():
        assert secret.encode() not in path.read_bytes(), path.name


def test_embeddings_over_http(server):
    embedder = OpenAIEmbedder("text-embedding-3-small", base_url=server.url, request_size=3, retry=QUICK)
    vectors = embedder.encode(["python lists", "python loops", "banana bread"] * 3)
    assert vectors.shape == (9, 256) and server.counts["embeddings"] == 3
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def pipeline(server, out, llm=None, **options):
    llm = llm or client(server, max_concurrency=8)
    embedder = OpenAIEmbedder("text-embedding-3-small", base_url=server.url, retry=QUICK)
    return kura.run(
        topic_conversations(), out, llm=llm, embedder=embedder, projector="pca", clusters_per_group=5, **options
    )


def test_a_second_run_sends_no_request_at_all(server, tmp_path):
    first = pipeline(server, tmp_path / "run")
    sent = server.requests
    assert sent >= 20 + 4 + 1 and not first.failures
    assert first.usage["stages"]["embed"]["requests"] == 1
    again = pipeline(server, tmp_path / "run")
    assert server.requests == sent and again.usage["total"]["requests"] == 0


def test_a_server_that_dies_mid_run(tmp_path):
    server = FakeOpenAIServer(delay=0.02, die_after=8).start()
    port = server.port
    llm = get_llm(
        "openai/test-model",
        base_url=server.url,
        max_concurrency=4,
        retry=RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.1),
    )
    llm.breaker = 6
    start = time.monotonic()
    first = kura.run(
        topic_conversations(), tmp_path / "run", llm=llm, embedder="hashing", projector="pca", clusters_per_group=5
    )
    assert time.monotonic() - start < 30
    server.stop()
    summary_failures = [f for f in first.failures if f["stage"] == "summarise"]
    # Up to 8 answers went out before it died (those in flight then were cut off); the rest failed.
    assert 12 <= len(summary_failures) < 20 and len(first.summaries) == 20 - len(summary_failures)
    recorded = [json.loads(line) for line in (tmp_path / "run" / "errors.jsonl").read_text().splitlines()]
    assert {f["id"] for f in summary_failures} <= {f["id"] for f in recorded}
    assert all("connection failed" in f["error"] or "server looks down" in f["error"] for f in summary_failures)

    with FakeOpenAIServer(port=port) as back:  # the same URL, so the cache still applies
        second = kura.run(
            topic_conversations(), tmp_path / "run", llm=llm, embedder="hashing", projector="pca", clusters_per_group=5
        )
        summary_requests = second.usage["stages"]["summarise"]["requests"]
    assert summary_requests == len(summary_failures) and not second.failures and back.counts["chat"] > 0
    assert len(second.summaries) == 20


def test_behind_a_proxy_the_full_client_is_used(server, monkeypatch):
    import httpx

    import kura.llm.http as http

    monkeypatch.setattr(http.urllib.request, "getproxies", lambda: {"https": "http://proxy.example:3128"})
    llm = client(server)
    assert ask(llm).word
    pools = list(llm._http._pools.values())
    assert not pools or all(isinstance(p, httpx.AsyncClient) for p in pools[0][0])


def test_the_cli_end_to_end_against_an_openai_compatible_server(server, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from kura.cli import app

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-cli-123456")
    data = tmp_path / "chats.jsonl"
    data.write_text(
        "\n".join(
            json.dumps({"id": c.chat_id, "messages": [m.model_dump(include={"role", "content"}) for m in c.messages]})
            for c in topic_conversations()
        )
    )
    args = [
        "run",
        str(data),
        "--out",
        str(tmp_path / "run"),
        "--llm",
        "openai/gpt-4o-mini",
        "--base-url",
        server.url,
        "--embedder",
        "openai/text-embedding-3-small",
        "--projector",
        "pca",
        "-k",
        "5",
        "-q",
    ]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "Mode: language model (openai/gpt-4o-mini)" in done.output and "embed" in done.output
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["usage"]["stages"]["summarise"]["cost_usd"] > 0  # gpt-4o-mini is in the price table
    assert meta["usage"]["stages"]["embed"]["model"] == "openai/text-embedding-3-small"
    sent = server.requests
    assert CliRunner().invoke(app, args).exit_code == 0
    assert server.requests == sent
