"""Embeddings from OpenAI-compatible endpoints (OpenAI, Azure, vLLM, Ollama, LM Studio...).

An ``Embedder`` like the offline ones: the pipeline's vector cache keys every text by this
embedder's ``name`` (model, dimensions, server), so a re-run sends nothing. Texts go out in
requests of ``request_size`` inputs, a few requests at a time, with the same retry policy as
the chat models. A reply that is not a well-formed set of vectors (a string, a NaN, one vector too
few, a dimension that differs from earlier replies) is retried like a 500; if it stays malformed,
the texts of that request are reported failed (``encode_each``) and the rest of the run goes on.
Model strings: ``openai/text-embedding-3-small``, ``azure/DEPLOYMENT``,
``ollama/nomic-embed-text``, ``vllm/MODEL``...
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from kura.embedders.base import Embedder, normalise, run_sync
from kura.errors import ConfigError
from kura.llm.config import env, flag, load_dotenv, require_env
from kura.llm.errors import ProviderError, describe
from kura.llm.http import JSONClient
from kura.llm.openai import OPENAI_URL
from kura.llm.retry import RetryPolicy, with_retries
from kura.llm.usage import UsageMeter

STAGE = "embed"
#: ``ProviderError.kind`` of a reply that arrived but is not a well-formed set of vectors.
MALFORMED = "malformed"


class OpenAIEmbedder(Embedder):
    #: Texts per ``encode`` call from the pipeline; each call is split into concurrent requests.
    pipeline_batch_size = 2048
    not_fingerprinted = frozenset(
        {"api_key", "api_key_env", "key_required", "request_size", "max_concurrency", "timeout", "retry"}
    )

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
        #: Length of the vectors of the first well-formed reply: later replies must match it.
        self._dimension: int | None = dimensions

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
        vectors, failures = run_sync(self._embed_all(texts))
        if failures:
            raise failures[min(failures)]
        return normalise(np.vstack([vectors[i] for i in range(len(texts))]))

    def encode_each(self, texts: list[str]) -> tuple[dict[int, np.ndarray], dict[int, str]]:
        if not texts:
            return {}, {}
        vectors, failures = run_sync(self._embed_all(texts))
        failed = {i: describe(exc) for i, exc in failures.items()}
        if not vectors:
            return {}, failed
        rows = sorted(vectors)
        return dict(zip(rows, normalise(np.vstack([vectors[i] for i in rows])))), failed

    async def _embed_all(self, texts: list[str]) -> tuple[dict[int, np.ndarray], dict[int, ProviderError]]:
        """Vectors by position in ``texts``, and the errors of requests whose replies stayed malformed.

        An HTTP or connection failure that outlasts the retries still ends the call: it is the
        server, not these texts, and the next requests would only wait for it too.
        """
        headers = self.headers()
        client = JSONClient(
            timeout=self.timeout, max_connections=self.max_concurrency, secrets=[self.api_key or env(self.api_key_env)]
        )
        limit = asyncio.Semaphore(self.max_concurrency)
        vectors: dict[int, np.ndarray] = {}
        failures: dict[int, ProviderError] = {}

        async def one(start: int) -> None:
            chunk = texts[start : start + self.request_size]
            body: dict[str, Any] = {"model": self.model, "input": chunk}
            if self.dimensions:
                body["dimensions"] = self.dimensions

            async def call() -> tuple[np.ndarray, dict]:
                self.usage.stage(STAGE).requests += 1
                data = await client.post(self.endpoint(), body, headers)
                return self._vectors_of(data, len(chunk)), data

            def on_retry(_: ProviderError) -> None:
                self.usage.stage(STAGE).retries += 1

            try:
                async with limit:
                    rows, data = await with_retries(call, self.retry, on_retry=on_retry)
            except ProviderError as exc:
                if exc.kind != MALFORMED:
                    raise
                failures.update(dict.fromkeys(range(start, start + len(chunk)), exc))
                return
            self.usage.stage(STAGE).input_tokens += int((data.get("usage") or {}).get("prompt_tokens") or 0)
            vectors.update(zip(range(start, start + len(chunk)), rows))

        try:
            await asyncio.gather(*(one(start) for start in range(0, len(texts), self.request_size)))
        finally:
            await client.aclose()
        return vectors, failures

    def _vectors_of(self, data: dict, count: int) -> np.ndarray:
        """The reply's vectors in input order, or a retryable error saying how the reply is malformed."""

        def malformed(problem: str) -> ProviderError:
            return ProviderError(
                f"{self.qualified_name}: malformed embeddings reply: {problem}", retryable=True, kind=MALFORMED
            )

        rows = data.get("data")
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            raise malformed("no list of embeddings under 'data'")
        if len(rows) != count:
            raise malformed(f"{len(rows)} embeddings for {count} texts")
        rows = sorted(rows, key=lambda row: row.get("index") if isinstance(row.get("index"), int) else 0)
        embeddings = [row.get("embedding") for row in rows]
        for i, embedding in enumerate(embeddings):
            if not isinstance(embedding, list) or not embedding:
                raise malformed(f"embedding {i} is {type(embedding).__name__}, not a list of numbers")
        lengths = sorted({len(e) for e in embeddings})
        if len(lengths) > 1:
            raise malformed(f"embeddings of different lengths {lengths}")
        if self._dimension is not None and lengths[0] != self._dimension:
            raise malformed(f"embeddings of {lengths[0]} values where earlier ones had {self._dimension}")
        array = np.array(embeddings)
        if array.dtype.kind not in "if":
            raise malformed("values that are not numbers")
        if not np.isfinite(array).all():
            raise malformed("NaN or infinite values")
        self._dimension = lengths[0]
        return array.astype(np.float32)


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
