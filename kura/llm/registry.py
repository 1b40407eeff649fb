"""Model strings to LLM objects: ``provider/model``, as Kura 0.5 (instructor) spells them.

Every provider comes in through ``register_provider``, the test fake included, so a plugin can
add one the same way:

    register_provider("myco", lambda model, options: MyLLM(model, **options), "MyCo's API")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kura.errors import ConfigError
from kura.llm.base import LLM
from kura.llm.config import flag, load_dotenv

Factory = Callable[[str, dict[str, Any]], LLM]

_PROVIDERS: dict[str, tuple[Factory, str]] = {}

#: Options every HTTP provider takes; a provider that cannot use one ignores it.
HTTP_OPTIONS = {"base_url", "api_key", "timeout", "max_concurrency", "retry", "validation_retries"}


def register_provider(prefix: str, factory: Factory, description: str = "") -> None:
    """Make ``prefix/MODEL`` model strings build an LLM with ``factory(MODEL, options)``."""
    _PROVIDERS[prefix] = (factory, description)


def providers() -> dict[str, str]:
    """Registered prefixes and what each one is."""
    return {prefix: description for prefix, (_, description) in sorted(_PROVIDERS.items())}


def get_llm(spec: str | LLM, **options: Any) -> LLM:
    """An LLM from a model string such as ``openai/gpt-4o-mini``, ``anthropic/claude-3-5-haiku-latest``,
    ``gemini/gemini-2.0-flash``, ``ollama/llama3.2``, ``local`` or ``fake/echo``.

    ``options`` (``base_url``, ``api_key``, ``max_concurrency``, ``timeout``, ``retry``...) go to the
    provider; ``None`` values are ignored. Nothing is checked or contacted until the first call.
    """
    if isinstance(spec, LLM):
        if options.get("max_concurrency"):
            spec.max_concurrency = options["max_concurrency"]
        return spec
    load_dotenv()
    if spec.startswith("local:"):  # local:/path/model.gguf, local:NAME (kura/llm/sources.py)
        spec = "local/" + spec.removeprefix("local:")
    prefix, _, model = spec.partition("/")
    if prefix not in _PROVIDERS:
        raise ConfigError(
            f"llm={spec!r}: unknown provider {prefix!r}; use one of {', '.join(sorted(_PROVIDERS))} (as provider/model)"
        )
    if not model and prefix not in ("local", "fake"):
        raise ConfigError(f"llm={spec!r} names no model: write it as {prefix}/MODEL")
    factory, _ = _PROVIDERS[prefix]
    return factory(model, {k: v for k, v in options.items() if v is not None})


def _take(options: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k in allowed}


def _openai(model: str, options: dict[str, Any]) -> LLM:
    if flag("USE_AZURE_OPENAI"):
        return _azure(model, options)
    from kura.llm.openai import OpenAICompatibleLLM

    return OpenAICompatibleLLM(model, **_take(options, HTTP_OPTIONS | {"structured"}))


def _azure(model: str, options: dict[str, Any]) -> LLM:
    from kura.llm.azure import AzureOpenAILLM

    opts = _take(options, HTTP_OPTIONS | {"structured", "deployment", "api_version"})
    if "base_url" in opts:
        opts["endpoint"] = opts.pop("base_url")
    return AzureOpenAILLM(model, **opts)


def _compatible(provider: str, default_url: str, url_env: str, key_env: str, key_required: bool) -> Factory:
    def build(model: str, options: dict[str, Any]) -> LLM:
        from kura.llm.config import env
        from kura.llm.openai import OpenAICompatibleLLM

        opts = _take(options, HTTP_OPTIONS | {"structured"})
        opts.setdefault("base_url", env(url_env) or default_url)
        return OpenAICompatibleLLM(model, provider=provider, api_key_env=key_env, key_required=key_required, **opts)

    return build


def _anthropic(model: str, options: dict[str, Any]) -> LLM:
    from kura.llm.anthropic import AnthropicLLM

    return AnthropicLLM(model, **_take(options, HTTP_OPTIONS))


def _gemini(model: str, options: dict[str, Any]) -> LLM:
    from kura.llm.gemini import GeminiLLM

    return GeminiLLM(model, **_take(options, HTTP_OPTIONS))


def _local(model: str, options: dict[str, Any]) -> LLM:
    from kura.llm.local import LocalLLM

    return LocalLLM(model, **_take(options, {"context_tokens", "threads", "seed", "retry", "validation_retries"}))


def _fake(model: str, options: dict[str, Any]) -> LLM:
    from kura.llm.fake import FakeLLM

    return FakeLLM(model or "echo", **_take(options, {"max_concurrency", "retry", "validation_retries", "delay"}))


register_provider(
    "openai", _openai, "OpenAI (or Azure when USE_AZURE_OPENAI=true; any compatible server with --base-url)"
)
register_provider("azure", _azure, "Azure OpenAI: azure/DEPLOYMENT with AZURE_OPENAI_ENDPOINT and AZURE_OPENAI_API_KEY")
register_provider("anthropic", _anthropic, "Anthropic: ANTHROPIC_API_KEY")
register_provider("gemini", _gemini, "Google Gemini: GEMINI_API_KEY")
register_provider("google", _gemini, "Google Gemini (same as gemini/)")
register_provider(
    "ollama",
    _compatible("ollama", "http://localhost:11434/v1", "OLLAMA_BASE_URL", "OLLAMA_API_KEY", False),
    "Ollama's OpenAI-compatible API",
)
register_provider(
    "vllm", _compatible("vllm", "http://localhost:8000/v1", "VLLM_BASE_URL", "VLLM_API_KEY", False), "a vLLM server"
)
register_provider(
    "lmstudio",
    _compatible("lmstudio", "http://localhost:1234/v1", "LMSTUDIO_BASE_URL", "LMSTUDIO_API_KEY", False),
    "LM Studio's server",
)
register_provider(
    "llamacpp",
    _compatible("llamacpp", "http://localhost:8080/v1", "LLAMACPP_BASE_URL", "LLAMACPP_API_KEY", False),
    "llama.cpp's llama-server",
)
register_provider(
    "openrouter",
    _compatible("openrouter", "https://openrouter.ai/api/v1", "OPENROUTER_BASE_URL", "OPENROUTER_API_KEY", True),
    "OpenRouter: OPENROUTER_API_KEY",
)
register_provider(
    "local",
    _local,
    "a local model: local (Qwen2.5-Coder 0.5B), local/1.5b, local:/path/model.gguf, local:NAME "
    "(from a file, pip packages, the Hugging Face cache, Ollama or llama.cpp's server; see `kura doctor`)",
)
register_provider("fake", _fake, "a fake for tests: fake/echo, fake/invalid")
