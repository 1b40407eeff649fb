"""What each provider sends and how it reads the answer (the HTTP client replaced by a recorder)."""

from __future__ import annotations

import asyncio
import json

import pytest
from pydantic import BaseModel

from kura.llm import ProviderError, get_llm
from kura.llm.http import JSONClient


class Pick(BaseModel):
    choice: str
    confidence: int | None = None


ASK = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Pick a colour."}]


@pytest.fixture
def recorder(monkeypatch):
    sent: list[dict] = []
    replies: list[dict] = []

    async def post(self, url, body, headers):
        sent.append({"url": url, "body": body, "headers": headers})
        reply = replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    monkeypatch.setattr(JSONClient, "post", post)
    return sent, replies


def ask(llm):
    return asyncio.run(llm.generate(ASK, Pick, stage="t", temperature=0.1, max_tokens=99))


def test_openai_sends_a_strict_schema_and_reads_usage(recorder, monkeypatch):
    sent, replies = recorder
    monkeypatch.setenv("OPENAI_API_KEY", "sk-abc123456")
    replies.append(
        {
            "choices": [{"message": {"content": '{"choice": "blue", "confidence": 3}'}}],
            "usage": {"prompt_tokens": 11, "completion_tokens": 5},
        }
    )
    llm = get_llm("openai/gpt-4o-mini")
    assert ask(llm) == Pick(choice="blue", confidence=3)
    request = sent[0]
    assert request["url"] == "https://api.openai.com/v1/chat/completions"
    assert request["headers"] == {"Authorization": "Bearer sk-abc123456"}
    body = request["body"]
    assert body["model"] == "gpt-4o-mini" and body["max_completion_tokens"] == 99 and body["temperature"] == 0.1
    schema = body["response_format"]["json_schema"]
    assert (
        schema["strict"] is True
        and schema["name"] == "Pick"
        and set(schema["schema"]["required"]) == {"choice", "confidence"}
    )
    assert llm.usage.stage("t").input_tokens == 11 and llm.usage.stage("t").output_tokens == 5


def test_azure_uses_the_deployment_url_and_api_key_header(recorder, monkeypatch):
    sent, replies = recorder
    monkeypatch.setenv("USE_AZURE_OPENAI", "true")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://example-resource.openai.azure.com/")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-123456")
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT_NAME", "my-4o-mini")
    monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2024-10-21")
    replies.append({"choices": [{"message": {"content": '{"choice": "red"}'}}]})
    llm = get_llm("openai/gpt-4o-mini")
    assert ask(llm).choice == "red" and llm.name == "azure/gpt-4o-mini"
    assert (
        sent[0]["url"]
        == "https://example-resource.openai.azure.com/openai/deployments/my-4o-mini/chat/completions?api-version=2024-10-21"
    )
    assert sent[0]["headers"] == {"api-key": "azure-key-123456"}


def test_azure_without_an_endpoint_names_the_variable(monkeypatch):
    from kura.errors import ConfigError

    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k" * 10)
    with pytest.raises(ConfigError, match="AZURE_OPENAI_ENDPOINT"):
        get_llm("azure/dep").check()


def test_compatible_servers_get_max_tokens_and_no_key(recorder):
    sent, replies = recorder
    replies.append({"choices": [{"message": {"content": '{"choice": "green"}'}}]})
    assert ask(get_llm("ollama/llama3.2")).choice == "green"
    assert sent[0]["url"] == "http://localhost:11434/v1/chat/completions"
    assert sent[0]["headers"] == {} and sent[0]["body"]["max_tokens"] == 99


def test_anthropic_forces_a_tool_call_and_reads_its_input(recorder, monkeypatch):
    sent, replies = recorder
    monkeypatch.setenv("ANTHROPIC_API_KEY", "ant-key-123456")
    replies.append(
        {
            "content": [
                {"type": "text", "text": "Sure."},
                {"type": "tool_use", "name": "answer", "input": {"choice": "teal"}},
            ],
            "usage": {"input_tokens": 20, "output_tokens": 7},
        }
    )
    llm = get_llm("anthropic/claude-3-5-haiku-latest")
    assert ask(llm).choice == "teal"
    request = sent[0]
    assert request["url"] == "https://api.anthropic.com/v1/messages"
    assert request["headers"] == {"x-api-key": "ant-key-123456", "anthropic-version": "2023-06-01"}
    body = request["body"]
    assert body["system"] == "Be brief." and body["messages"] == [{"role": "user", "content": "Pick a colour."}]
    assert (
        body["tool_choice"] == {"type": "tool", "name": "answer"}
        and body["tools"][0]["input_schema"]["properties"]["choice"]
    )
    assert body["max_tokens"] == 99 and llm.usage.stage("t").input_tokens == 20


def test_gemini_sends_a_response_schema_and_reads_candidates(recorder, monkeypatch):
    sent, replies = recorder
    monkeypatch.setenv("GEMINI_API_KEY", "gem-key-123456")
    replies.append(
        {
            "candidates": [{"content": {"parts": [{"text": '{"choice": "gold"}'}]}}],
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4},
        }
    )
    llm = get_llm("gemini/gemini-2.0-flash")
    assert ask(llm).choice == "gold"
    request = sent[0]
    assert request["url"] == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"
    assert request["headers"] == {"x-goog-api-key": "gem-key-123456"}
    config = request["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json" and config["responseSchema"]["type"] == "OBJECT"
    assert config["responseSchema"]["properties"]["confidence"] == {"type": "INTEGER", "nullable": True}
    assert request["body"]["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert llm.usage.stage("t").output_tokens == 4


def test_gemini_blocked_prompts_are_not_retried(recorder, monkeypatch):
    sent, replies = recorder
    monkeypatch.setenv("GEMINI_API_KEY", "gem-key-123456")
    replies.append({"promptFeedback": {"blockReason": "SAFETY"}})
    with pytest.raises(ProviderError, match="SAFETY"):
        ask(get_llm("google/gemini-2.0-flash"))
    assert len(sent) == 1


def test_embeddings_for_azure_use_the_embedding_deployment(monkeypatch):
    from kura.llm.embeddings import remote_embedder

    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://res.openai.azure.com")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key-123456")
    monkeypatch.setenv("AZURE_EMBEDDING_DEPLOYMENT_NAME", "embed-small")
    embedder = remote_embedder("azure/text-embedding-3-small")
    assert embedder.endpoint().startswith(
        "https://res.openai.azure.com/openai/deployments/embed-small/embeddings?api-version="
    )
    assert embedder.headers() == {"api-key": "azure-key-123456"}


def test_price_table_and_usage_report():
    from kura.llm.cost import cost, price, usage_report
    from kura.llm.usage import UsageMeter

    assert price("openai/gpt-4o-mini-2024-07-18") == (0.15, 0.60)
    assert price("openrouter/openai/gpt-4o-mini") == (0.15, 0.60)
    assert price("openai/some-new-model") is None and price("local/qwen2.5-coder-0.5b") == (0.0, 0.0)
    assert cost("openai/gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    meter = UsageMeter()
    meter.record_request("summarise", 2_000_000, 100_000)
    meter.record_request("embed", 1_000_000, 0)
    report = usage_report(meter, {"summarise": "openai/gpt-4o-mini", "embed": "openai/text-embedding-3-small"})
    assert report["stages"]["summarise"]["cost_usd"] == pytest.approx(0.36)
    assert report["total"]["cost_usd"] == pytest.approx(0.38) and report["total"]["requests"] == 2
    assert json.dumps(report)  # goes into run.json as is
    unknown = usage_report(meter, {"*": "vllm/my-model"})
    assert unknown["total"]["cost_usd"] is None
