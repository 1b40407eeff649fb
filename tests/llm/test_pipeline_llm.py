"""The pipeline, the CLI and Kura 0.5's classes with a language model (the fake, at the seam)."""

from __future__ import annotations

import asyncio
import json

import pytest
from llm_data import chat, topic_conversations
from typer.testing import CliRunner

import kura
from kura.llm import FakeLLM, LLMSummariser, ProviderError
from kura.types import GeneratedSummary

FAST = dict(embedder="hashing", projector="pca", clusters_per_group=5)


def test_a_run_with_a_language_model_end_to_end(tmp_path):
    conversations = topic_conversations()
    result = kura.run(conversations, tmp_path / "run", llm="fake/echo", **FAST)
    assert result.mode == "language model (fake/echo)"
    assert len(result.summaries) == 20 and not result.failures
    assert sorted(i for r in result.roots for i in r.chat_ids) == sorted(c.chat_id for c in conversations)
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["mode"] == "language model (fake/echo)"
    stages = meta["usage"]["stages"]
    assert stages["summarise"]["requests"] == 20 and stages["clusters"]["requests"] == 4
    assert stages["hierarchy"]["requests"] >= 1 and meta["usage"]["total"]["cost_usd"] == 0.0
    assert result.summaries[0].summary == "How do I reverse a list in python"  # the fake echoes the request


def test_a_second_run_makes_no_llm_calls(tmp_path):
    llm = FakeLLM()
    kura.run(topic_conversations(), tmp_path / "run", llm=llm, **FAST)
    first = len(llm.calls)
    again = kura.run(topic_conversations(), tmp_path / "run", llm=llm, **FAST)
    assert len(llm.calls) == first and again.usage["total"]["requests"] == 0
    assert set(again.reused) >= {"clusters", "hierarchy"}


def test_without_llm_nothing_changes(tmp_path):
    result = kura.run(topic_conversations(), tmp_path / "run", **FAST)
    assert result.mode == "extractive (no language model)" and result.usage is None


def test_custom_schema_fields_and_extractors_land_in_metadata(tmp_path):
    class WithSentiment(GeneratedSummary):
        sentiment: str

    summariser = LLMSummariser(FakeLLM(), response_schema=WithSentiment)
    result = kura.run(
        topic_conversations()[:10],
        tmp_path / "run",
        summariser=summariser,
        extractors=[lambda c: {"turns_by_user": sum(m.role == "user" for m in c.messages)}],
        **FAST,
    )
    first = result.summaries[0]
    assert first.metadata["sentiment"] and first.metadata["turns_by_user"] == 1
    assert "sentiment" not in type(first).model_fields


def test_identical_chats_keep_their_own_ids_and_metadata_and_share_one_call(tmp_path):
    llm = FakeLLM()
    twins = [
        chat("a", "Same question about python lists", "Same answer.", team="red"),
        chat("b", "Same question about python lists", "Same answer.", team="blue"),
    ]
    result = kura.run(twins + topic_conversations()[5:15], tmp_path / "run", llm=llm, **FAST)
    by_id = {s.chat_id: s for s in result.summaries}
    assert by_id["a"].metadata["team"] == "red" and by_id["b"].metadata["team"] == "blue"
    assert (
        sum(
            "Same question about python lists" in m[1]["content"]
            for m in llm.calls
            if "<conversation>" in m[1]["content"]
        )
        == 1
    )


def test_a_long_conversation_is_cut_not_failed(tmp_path):
    llm = FakeLLM()
    long_chat = chat(
        "long", "Please review my novel. " + "Chapter text. " * 20_000, "It is long.", "Thanks, that helped!"
    )
    summariser = LLMSummariser(llm, max_input_tokens=1000)
    result = kura.run([long_chat] + topic_conversations()[:9], tmp_path / "run", summariser=summariser, **FAST)
    assert not result.failures
    prompt = next(m[1]["content"] for m in llm.calls if "Please review my novel" in m[1]["content"])
    assert "characters omitted" in prompt and "Thanks, that helped!" in prompt and len(prompt) < 6000


def flaky_naming(fail: set):
    """Fails cluster-naming requests while ``fail`` is non-empty; records how many it saw."""
    seen = {"naming": 0}

    def responder(messages, schema):
        from kura.llm.fake import fill_schema

        if "<statements>" in messages[-1]["content"]:
            seen["naming"] += 1
            if fail:
                raise ProviderError("HTTP 503: overloaded", status=503, retryable=False)
        return fill_schema(schema, messages)

    return responder, seen


def test_naming_failures_fall_back_are_recorded_and_are_retried_next_run(tmp_path):
    fail = {"on"}
    responder, seen = flaky_naming(fail)
    llm = FakeLLM(responder=responder)
    first = kura.run(topic_conversations(), tmp_path / "run", llm=llm, **FAST)
    naming_failures = [f for f in first.failures if f["stage"] == "clusters"]
    assert len(naming_failures) == 4 and "overloaded" in naming_failures[0]["error"]
    recorded = [json.loads(line) for line in (tmp_path / "run" / "errors.jsonl").read_text().splitlines()]
    assert {f["id"] for f in recorded} >= {f["id"] for f in naming_failures}
    assert all(r.name for r in first.clusters)  # offline names stood in
    assert first.usage["stages"]["clusters"]["failures"] == 4

    fail.clear()
    before = seen["naming"]
    second = kura.run(topic_conversations(), tmp_path / "run", llm=llm, **FAST)
    assert seen["naming"] - before == 4 and not second.failures
    assert (tmp_path / "run" / "errors.jsonl").read_text().strip() == ""
    assert "clusters" not in second.reused
    third = kura.run(topic_conversations(), tmp_path / "run", llm=llm, **FAST)
    assert "clusters" in third.reused and "hierarchy" in third.reused


def test_a_failed_summary_is_recorded_and_only_it_is_retried(tmp_path):
    broken = {"cooking-2"}

    def responder(messages, schema):
        from kura.llm.fake import fill_schema

        if broken and "What spices go well with lentil soup" in messages[-1]["content"]:
            raise ProviderError("HTTP 500", status=500, retryable=False)
        return fill_schema(schema, messages)

    llm = FakeLLM(responder=responder)
    first = kura.run(topic_conversations(), tmp_path / "run", llm=llm, **FAST)
    assert [f["id"] for f in first.failures] == ["cooking-2"] and len(first.summaries) == 19
    broken.clear()
    calls = len(llm.calls)
    second = kura.run(topic_conversations(), tmp_path / "run", llm=llm, **FAST)
    summary_calls = [m for m in llm.calls[calls:] if "<conversation>" in m[1]["content"]]
    assert len(summary_calls) == 1 and len(second.summaries) == 20 and not second.failures


def test_cli_run_with_llm_prints_usage_and_dry_run_spends_nothing(tmp_path):
    from kura.cli import app

    data = tmp_path / "chats.jsonl"
    data.write_text(
        "\n".join(
            json.dumps({"id": c.chat_id, "messages": [m.model_dump(include={"role", "content"}) for m in c.messages]})
            for c in topic_conversations()
        )
    )
    runner = CliRunner()
    done = runner.invoke(
        app,
        [
            "run",
            str(data),
            "--out",
            str(tmp_path / "run"),
            "--llm",
            "fake/echo",
            "--embedder",
            "hashing",
            "--projector",
            "pca",
            "-k",
            "5",
            "--concurrency",
            "7",
            "-q",
        ],
    )
    assert done.exit_code == 0, done.output
    assert (
        "Language-model usage" in done.output
        and "summarise" in done.output
        and "Mode: language model (fake/echo)" in done.output
    )

    dry = runner.invoke(
        app, ["run", str(data), "--out", str(tmp_path / "dry"), "--llm", "openai/gpt-4o-mini", "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    assert "20 requests" in dry.output and "total cost: $" in dry.output and not (tmp_path / "dry").exists()


# -- Kura 0.5's classes ----------------------------------------------------------------------


def test_kura05_classes_construct_without_a_key_and_fail_clearly_when_used():
    from kura.cluster import ClusterDescriptionModel
    from kura.embedding import OpenAIEmbeddingModel
    from kura.errors import ConfigError
    from kura.meta_cluster import MetaClusterModel
    from kura.summarisation import SummaryModel

    summary_model = SummaryModel(
        model="openai/gpt-4o-mini",
        max_concurrent_requests=50,
        checkpoint_filename="summaries",
        console=None,
        cache=None,
    )
    ClusterDescriptionModel(model="openai/gpt-4o-mini", max_concurrent_requests=50, temperature=0.2)
    MetaClusterModel(max_clusters=10, model="openai/gpt-4o-mini", embedding_model=None)
    embedder = OpenAIEmbeddingModel(model_name="text-embedding-3-small", model_batch_size=50, n_concurrent_jobs=5)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        asyncio.run(summary_model.summarise([chat("1", "hello there friend")]))
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        embedder.encode(["hello"])


def test_kura05_procedural_pipeline_with_llm_models(tmp_path):
    from kura.cluster import ClusterDescriptionModel, generate_base_clusters_from_conversation_summaries
    from kura.embedders import HashingEmbedder
    from kura.meta_cluster import MetaClusterModel, reduce_clusters_from_base_clusters
    from kura.summarisation import SummaryModel, summarise_conversations

    class WithMood(GeneratedSummary):
        mood: str

    async def main():
        summaries = await summarise_conversations(
            topic_conversations(), model=SummaryModel(model="fake/echo"), response_schema=WithMood
        )
        clusters = await generate_base_clusters_from_conversation_summaries(
            summaries, embedding_model=HashingEmbedder(), clustering_model=ClusterDescriptionModel(model="fake/echo")
        )
        tree = await reduce_clusters_from_base_clusters(
            clusters, model=MetaClusterModel(model="fake/echo", max_clusters=2, embedding_model=HashingEmbedder())
        )
        return summaries, clusters, tree

    summaries, clusters, tree = asyncio.run(main())
    assert len(summaries) == 20 and summaries[0].metadata["mood"]
    assert len(clusters) == 2  # k = ceil(20 / 10)
    roots = [c for c in tree if c.parent_id is None]
    assert sorted(i for r in roots for i in r.chat_ids) == sorted(s.chat_id for s in summaries)


def test_kura05_summary_model_summarise_and_generate_clusters():
    from kura.cluster import ClusterDescriptionModel
    from kura.summarisation import SummaryModel

    class WithMood(GeneratedSummary):
        mood: str

    summaries = asyncio.run(
        SummaryModel(model="fake/echo").summarise(topic_conversations()[:4], response_schema=WithMood, temperature=0.0)
    )
    assert [s.chat_id for s in summaries] == ["python-0", "python-1", "python-2", "python-3"] and summaries[0].metadata[
        "mood"
    ]
    clusters = asyncio.run(
        ClusterDescriptionModel(model="fake/echo").generate_clusters({0: summaries[:2], 1: summaries[2:]})
    )
    assert [c.count for c in clusters] == [2, 2] and all(c.name and c.slug for c in clusters)
