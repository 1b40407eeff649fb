"""Embeddings from OpenAI-compatible endpoints (OpenAI, Azure, vLLM, Ollama, LM Studio...).

An ``Embedder`` like the offline ones: the pipeline's vector cache keys every text by this
embedder's ``name`` (model, dimensions, server), so a re-run sends nothing. Texts go out in
requests of ``request_size`` inputs, a few requests at a time, with the same retry policy as
the chat models. Model strings: ``openai/text-embedding-3-small``, ``azure/DEPLOYMENT``,
``ollama/nomic-embed-text``, ``vllm/MODEL``...
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from kura.embedders.base import Embedder, normalise, run_sync
from kura.errors import ConfigError
from kura.llm.config import env, flag, load_dotenv, require_env
from kura.llm.errors import ProviderError
from kura.llm.http import JSONClient
from kura.llm.openai import OPENAI_URL
from kura.llm.retry import RetryPolicy, with_retries
from kura.llm.usage import UsageMeter

STAGE = "embed"


class OpenAIEmbedder(Embedder):
    #: Texts per ``encode`` call from the pipeline; each call is split into concurrent requests.
    pipeline_batch_size = 2048

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        provider: str = "openai",
        key_required: bool | None = None,
        dimensions: int | None = None,
        request_size: int = 256,
        max_concurrency: int = 8,
        timeout: float = 60.0,
        retry: RetryPolicy | None = None,
    ):
        self.model = model
        self.base_url = base_url
        self.api_key = api_key
        self.api_key_env = api_key_env
        self.provider = provider
        self.key_required = key_required
        self.dimensions = dimensions
        self.request_size = request_size
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.usage = UsageMeter()

    @property
    def url(self) -> str:
        return (self.base_url or env("OPENAI_BASE_URL") or OPENAI_URL).rstrip("/")

    @property
    def name(self) -> str:
        return f"{self.provider}-embeddings:{self.model}:{self.dimensions or 'native'}@{self.url}"

    @property
    def qualified_name(self) -> str:
        """``provider/model``, as the price table knows it."""
        return f"{self.provider}/{self.model}"

    def _key(self) -> str | None:
        key = self.api_key or env(self.api_key_env)
        required = self.key_required if self.key_required is not None else self.url == OPENAI_URL
        if key is None and required:
            raise ConfigError(
                f"{self.qualified_name} embeddings need an API key: set the environment variable {self.api_key_env} (or put it in .env)"
            )
        return key

    def endpoint(self) -> str:
        return f"{self.url}/embeddings"

    def headers(self) -> dict[str, str]:
        key = self._key()
        return {"Authorization": f"Bearer {key}"} if key else {}

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions or 0), dtype=np.float32)
        return normalise(np.asarray(run_sync(self._embed_all(texts)), dtype=np.float32))

    async def _embed_all(self, texts: list[str]) -> list[list[float]]:
        headers = self.headers()
        client = JSONClient(
            timeout=self.timeout, max_connections=self.max_concurrency, secrets=[self.api_key or env(self.api_key_env)]
        )
        limit = asyncio.Semaphore(self.max_concurrency)
        chunks = [texts[s : s + self.request_size] for s in range(0, len(texts), self.request_size)]

        async def one(chunk: list[str]) -> list[list[float]]:
            body: dict[str, Any] = {"model": self.model, "input": chunk}
            if self.dimensions:
                body["dimensions"] = self.dimensions

            async def call() -> dict:
                self.usage.stage(STAGE).requests += 1
                return await client.post(self.endpoint(), body, headers)

            def on_retry(_: ProviderError) -> None:
                self.usage.stage(STAGE).retries += 1

            async with limit:
                data = await with_retries(call, self.retry, on_retry=on_retry)
            rows = sorted(data.get("data") or [], key=lambda row: row.get("index", 0))
            if len(rows) != len(chunk):
                raise ProviderError(
                    f"{self.qualified_name}: {len(rows)} embeddings for {len(chunk)} texts", kind="body"
                )
            self.usage.stage(STAGE).input_tokens += int((data.get("usage") or {}).get("prompt_tokens") or 0)
            return [row["embedding"] for row in rows]

        try:
            parts = await asyncio.gather(*(one(chunk) for chunk in chunks))
        finally:
            await client.aclose()
        return [vector for part in parts for vector in part]


class AzureOpenAIEmbedder(OpenAIEmbedder):
    """Azure: the deployment from ``AZURE_EMBEDDING_DEPLOYMENT_NAME`` (else the model name)."""

    def __init__(
        self,
        model: str = "text-embedding-3-small",
        *,
        deployment: str | None = None,
        api_version: str | None = None,
        **options: Any,
    ):
        super().__init__(model, api_key_env="AZURE_OPENAI_API_KEY", provider="azure", key_required=True, **options)
        self.deployment = deployment
        self.api_version = api_version

    @property
    def url(self) -> str:
        return (self.base_url or require_env("AZURE_OPENAI_ENDPOINT", f"azure/{self.model} embeddings")).rstrip("/")

    def endpoint(self) -> str:
        from kura.llm.azure import DEFAULT_API_VERSION

        deployment = self.deployment or env("AZURE_EMBEDDING_DEPLOYMENT_NAME") or self.model
        version = self.api_version or env("AZURE_OPENAI_API_VERSION") or DEFAULT_API_VERSION
        return f"{self.url}/openai/deployments/{deployment}/embeddings?api-version={version}"

    def headers(self) -> dict[str, str]:
        return {"api-key": self._key() or ""}


_COMPATIBLE = {
    "ollama": ("http://localhost:11434/v1", "OLLAMA_BASE_URL"),
    "vllm": ("http://localhost:8000/v1", "VLLM_BASE_URL"),
    "lmstudio": ("http://localhost:1234/v1", "LMSTUDIO_BASE_URL"),
    "llamacpp": ("http://localhost:8080/v1", "LLAMACPP_BASE_URL"),
}


def remote_embedder(
    spec: str, *, base_url: str | None = None, api_key: str | None = None, max_concurrency: int | None = None
) -> OpenAIEmbedder:
    """An embedder from ``provider/model`` (nothing is contacted until the first ``encode``)."""
    load_dotenv()
    provider, _, model = spec.partition("/")
    if not model:
        raise ConfigError(f"embedder={spec!r} names no model: write it as {provider}/MODEL")
    options: dict[str, Any] = {"api_key": api_key}
    if max_concurrency:
        options["max_concurrency"] = max_concurrency
    if provider == "azure" or (provider == "openai" and flag("USE_AZURE_OPENAI")):
        return AzureOpenAIEmbedder(model, base_url=base_url, **options)
    if provider == "openai":
        return OpenAIEmbedder(model, base_url=base_url, **options)
    if provider in _COMPATIBLE:
        default_url, url_env = _COMPATIBLE[provider]
        return OpenAIEmbedder(
            model, base_url=base_url or env(url_env) or default_url, provider=provider, key_required=False, **options
        )
    known = ", ".join(["openai", "azure", *_COMPATIBLE])
    raise ConfigError(
        f"embedder={spec!r}: embeddings over an API come from {known} (as provider/model), or use minilm or hashing"
    )
