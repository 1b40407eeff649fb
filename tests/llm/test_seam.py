"""The LLM seam through the fake: validation re-asks, retries, cache keys, concurrency, registry."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel, Field

from kura.errors import ConfigError
from kura.llm import FakeLLM, InvalidOutputError, ProviderError, RetryPolicy, get_llm, providers, register_provider
from kura.store.cache import ItemCache


class Answer(BaseModel):
    word: str
    score: int = Field(ge=1, le=5)


ASK = [
    {"role": "system", "content": "rules"},
    {"role": "user", "content": "<data>\nsay hello there\n</data>\n\nAnswer."},
]


def run(coro):
    return asyncio.run(coro)


def test_invalid_json_is_asked_again_with_the_error_shown():
    llm = FakeLLM(script=['{"word": "hi", "score": 9}', "not json at all", '{"word": "hi", "score": 3}'])
    answer = run(llm.generate(ASK, Answer, stage="test"))
    assert answer == Answer(word="hi", score=3)
    assert len(llm.calls) == 3
    second = llm.calls[1]
    assert second[-2] == {"role": "assistant", "content": '{"word": "hi", "score": 9}'}
    assert "score" in second[-1]["content"] and "less than or equal to 5" in second[-1]["content"]
    assert "not valid JSON" in llm.calls[2][-1]["content"] or "JSON" in llm.calls[2][-1]["content"]
    usage = llm.usage.stage("test")
    assert usage.requests == 3 and usage.retries == 2 and usage.failures == 0


def test_validation_gives_up_after_its_retries():
    llm = FakeLLM("invalid", validation_retries=1)
    with pytest.raises(InvalidOutputError) as info:
        run(llm.generate(ASK, Answer, stage="test"))
    assert info.value.attempts == 2 and len(llm.calls) == 2
    assert llm.usage.stage("test").failures == 1


def test_fenced_json_and_prose_around_it_are_accepted():
    llm = FakeLLM(script=['Sure! ```json\n{"word": "a", "score": 1}\n```', 'Here: {"word": "b", "score": 2} done'])
    assert run(llm.generate(ASK, Answer)).word == "a"
    assert run(llm.generate(ASK, Answer)).word == "b"


def test_retryable_provider_errors_are_retried_and_others_are_not():
    flaky = FakeLLM(
        script=[
            ProviderError("busy", status=429, retryable=True, retry_after=0.0),
            ProviderError("down", status=503, retryable=True),
            {"word": "ok", "score": 1},
        ]
    )
    assert run(flaky.generate(ASK, Answer, stage="s")).word == "ok"
    assert flaky.usage.stage("s").retries == 2 and flaky.usage.stage("s").requests == 3

    denied = FakeLLM(script=[ProviderError("bad key", status=401, retryable=False), {"word": "never", "score": 1}])
    with pytest.raises(ProviderError, match="bad key"):
        run(denied.generate(ASK, Answer))
    assert len(denied.calls) == 1


def test_retries_stop_after_max_attempts():
    errors = [ProviderError("busy", status=500, retryable=True) for _ in range(10)]
    llm = FakeLLM(script=errors, retry=RetryPolicy(max_attempts=3, base_delay=0))
    with pytest.raises(ProviderError) as info:
        run(llm.generate(ASK, Answer))
    assert info.value.attempts == 3 and len(llm.calls) == 3


def test_backoff_honours_retry_after_and_grows_with_jitter():
    import random

    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, max_retry_after=30)
    rng = random.Random(0)
    assert policy.delay(1, 5.0, rng) >= 5.0
    assert policy.delay(1, 500.0, rng) == 30  # a server asking for too long is capped
    delays = [policy.delay(attempt, None, rng) for attempt in (1, 2, 3, 4, 5, 6) for _ in range(50)]
    assert max(delays) <= 8.0 and min(delays) >= 0
    assert len({round(d, 3) for d in delays}) > 100  # jittered, not a fixed ladder


def test_retry_after_as_seconds_or_http_date():
    import time
    from email.utils import formatdate

    from kura.llm.retry import parse_retry_after

    assert parse_retry_after("3") == 3.0
    assert 8 <= parse_retry_after(formatdate(time.time() + 10, usegmt=True)) <= 10
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None


def test_cache_serves_repeats_and_keys_on_what_changes_the_answer(tmp_path):
    llm = FakeLLM()
    with ItemCache(tmp_path / "cache.sqlite") as cache:
        llm.use_cache(cache)
        first = run(llm.generate(ASK, Answer, stage="s"))
        assert run(llm.generate(ASK, Answer, stage="s")) == first
        assert len(llm.calls) == 1 and llm.usage.stage("s").cached == 1
        run(llm.generate(ASK, Answer, stage="s", temperature=0.9))
        run(llm.generate([*ASK[:1], {"role": "user", "content": ASK[1]["content"] + "!"}], Answer, stage="s"))
        assert len(llm.calls) == 3
        other_model = FakeLLM("other")
        other_model.use_cache(cache)
        run(other_model.generate(ASK, Answer))
        assert len(other_model.calls) == 1


def test_failures_are_not_cached(tmp_path):
    with ItemCache(tmp_path / "cache.sqlite") as cache:
        failing = FakeLLM("invalid", validation_retries=0)
        failing.use_cache(cache)
        with pytest.raises(InvalidOutputError):
            run(failing.generate(ASK, Answer))
        assert cache.count("llm") == 0


def test_concurrency_limit_is_respected():
    in_flight = peak = 0

    class Counting(FakeLLM):
        async def complete(self, *args, **kwargs):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1
            return await super().complete(*args, **kwargs)

    llm = Counting(max_concurrency=3)

    async def many():
        await asyncio.gather(*(llm.generate(ASK, Answer) for _ in range(20)))

    run(many())
    assert peak == 3


def test_the_llm_works_across_event_loops():
    llm = FakeLLM()
    run(llm.generate(ASK, Answer))
    run(llm.generate(ASK, Answer))  # a second asyncio.run: no "bound to a different loop"
    assert len(llm.calls) == 2


def test_registry_builds_providers_without_keys_or_network():
    assert "fake" in providers() and "openai" in providers() and "local" in providers()
    assert isinstance(get_llm("fake/echo"), FakeLLM)
    for spec in [
        "openai/gpt-4o-mini",
        "anthropic/claude-3-5-haiku-latest",
        "gemini/gemini-2.0-flash",
        "azure/my-deployment",
        "ollama/llama3.2",
        "vllm/qwen",
        "lmstudio/any",
        "llamacpp/any",
        "openrouter/openai/gpt-4o-mini",
        "local",
        "local/1.5b",
    ]:
        assert get_llm(spec).name.split("/")[0] in spec
    with pytest.raises(ConfigError, match="unknown provider 'nope'"):
        get_llm("nope/model")
    with pytest.raises(ConfigError, match="names no model"):
        get_llm("openai")


def test_plugins_register_through_the_same_door():
    register_provider("mine", lambda model, options: FakeLLM(model), "a test plugin")
    llm = get_llm("mine/special")
    assert isinstance(llm, FakeLLM) and llm.model == "special"


def test_use_azure_routes_openai_strings_to_azure(monkeypatch):
    monkeypatch.setenv("USE_AZURE_OPENAI", "true")
    assert get_llm("openai/gpt-4o-mini").provider == "azure"


def test_dotenv_is_read(monkeypatch, tmp_path):
    import kura.llm.config as config

    (tmp_path / ".env").write_text('# keys\nexport OPENAI_API_KEY="sk-from-dotenv-123"\n')
    monkeypatch.setattr(config, "_loaded", False)
    llm = get_llm("openai/gpt-4o-mini")
    llm.check()  # no error: the key came from .env
    assert llm.headers() == {"Authorization": "Bearer sk-from-dotenv-123"}


@pytest.mark.parametrize(
    "spec, variable",
    [
        ("openai/gpt-4o-mini", "OPENAI_API_KEY"),
        ("anthropic/claude-3-5-haiku-latest", "ANTHROPIC_API_KEY"),
        ("gemini/gemini-2.0-flash", "GEMINI_API_KEY"),
        ("openrouter/openai/gpt-4o-mini", "OPENROUTER_API_KEY"),
        ("azure/dep", "AZURE_OPENAI_API_KEY"),
    ],
)
def test_a_missing_key_is_one_line_naming_the_variable(spec, variable):
    with pytest.raises(ConfigError) as info:
        get_llm(spec).check()
    message = str(info.value)
    assert variable in message and "\n" not in message


def test_local_servers_need_no_key(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):  # the hosted API does need one...
        get_llm("openai/gpt-4o-mini").check()
    get_llm("ollama/llama3.2").check()  # ...a server of your own does not
    get_llm("openai/any", base_url="http://127.0.0.1:9/v1").check()


def test_a_missing_local_weight_package_names_the_pip_command(monkeypatch, tmp_path):
    import dataclasses

    import kura.llm.weights as weights
    from kura.llm.local import LocalLLM

    monkeypatch.setenv("KURA_CACHE_DIR", str(tmp_path))
    large = weights.LOCAL_MODELS["qwen2.5-coder-1.5b"]
    missing = dataclasses.replace(large, packages=("kura-test-no-such-part1",))
    monkeypatch.setitem(weights.LOCAL_MODELS, "qwen2.5-coder-1.5b", missing)
    with pytest.raises(
        ConfigError, match=r"kura-test-no-such-part1 is missing\): run `pip install 'kura\[local-large\]'`"
    ):
        LocalLLM("1.5b").check()
    with pytest.raises(ConfigError, match="unknown"):
        get_llm("local/7b").check()


def test_a_missing_llama_cpp_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_llama(name, *args, **kwargs):
        if name.startswith("llama_cpp"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_llama)
    with pytest.raises(ConfigError, match=r"pip install 'kura\[local\]'"):
        get_llm("local").check()


def test_weights_are_joined_in_order_hash_checked_and_assembled_once(monkeypatch, tmp_path):
    import hashlib

    import kura.llm.weights as weights

    parts = [tmp_path / f"part0{i}.bin" for i in (1, 2, 3)]
    for i, part in enumerate(parts):
        part.write_bytes(bytes([i]) * 1000)
    joined = b"".join(p.read_bytes() for p in parts)
    calls = []
    monkeypatch.setattr(weights, "part_files", lambda model: calls.append(1) or parts)
    monkeypatch.setenv("KURA_CACHE_DIR", str(tmp_path / "cache"))
    model = weights.LocalModel(
        "tiny", "tiny.gguf", ("p1", "p2", "p3"), "1.0", hashlib.sha256(joined).hexdigest(), "local"
    )

    wrong = weights.LocalModel("tiny", "tiny.gguf", ("p1",), "1.0", "0" * 64, "local")
    with pytest.raises(ConfigError, match="expected 0000"):
        weights.model_path(wrong)
    assert not (tmp_path / "cache" / "models" / "tiny.gguf").exists()

    path = weights.model_path(model)
    assert path.read_bytes() == joined and path.parent == tmp_path / "cache" / "models"
    assert weights.model_path(model) == path and len(calls) == 2  # the second use trusts the note


def test_a_name_that_repeats_the_instructions_is_sent_back_and_the_next_answer_used():
    import asyncio as _asyncio

    from kura.llm.fake import FakeLLM
    from kura.llm.namer import LLMClusterNamer
    from kura.stages.naming import ClusterGroup

    parroted = {
        "name": "an imperative sentence of at most ten words that captures the users' request",
        "summary": "s.",
        "slug": "a_b_c",
    }
    rambling = {"name": " ".join(["word"] * 30), "summary": "s.", "slug": "a_b_c"}
    good = {"name": "Debug Python import errors", "summary": "Users fixed imports.", "slug": "python_import_errors"}
    llm = FakeLLM(script=[parroted, rambling, good])
    named = _asyncio.run(
        LLMClusterNamer(llm).name_groups([ClusterGroup(chat_ids=["1"], texts=["fix my import error"])])
    )
    assert named[0].name == "Debug Python import errors"
    assert len(llm.calls) == 3
    retry_prompt = " ".join(m["content"] for m in llm.calls[1])
    assert "repeats the instructions" in retry_prompt and "has 30 words" in " ".join(m["content"] for m in llm.calls[2])
