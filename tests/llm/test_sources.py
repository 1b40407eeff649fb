"""Where local models come from (kura/llm/sources.py) and `kura doctor`.

Real files and real servers on 127.0.0.1: the Hugging Face cache is a tmp directory laid out as the
hub lays it out, its blob a symlink to the real GGUF assembled from the pip packages; Ollama and
llama.cpp's server are played by the fake OpenAI-compatible server (the seam), which lists models
at /api/tags and /v1/models as they do.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from kura.llm import get_llm
from kura.llm.fake_server import FakeOpenAIServer
from kura.llm.sources import SOURCES, resolve
from kura.llm.weights import LOCAL_MODELS

QWEN = LOCAL_MODELS["qwen2.5-coder-0.5b"]


@pytest.fixture(autouse=True)
def nothing_around(monkeypatch, tmp_path):
    """No cache, setting or server of the developer's leaks in: every source points somewhere empty."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("KURA_LOCAL_MODEL", raising=False)
    monkeypatch.delenv("OLLAMA_BASE_URL", raising=False)
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # the discard port: nothing listens
    monkeypatch.setenv("LLAMACPP_BASE_URL", "http://127.0.0.1:9/v1")


def real_gguf():
    """The 0.5B model from its pip packages (joined once into the user cache), or skip."""
    from kura.errors import ConfigError
    from kura.llm.weights import model_path

    try:
        return model_path(QWEN)
    except ConfigError as exc:
        pytest.skip(f"needs the local extra: {exc}")


def hub_layout(root, target, repo="models--Qwen--Qwen2.5-Coder-0.5B-Instruct-GGUF", blob=QWEN.sha256):
    """The hub's layout: blobs/<sha256> holds the file, snapshots/<rev>/<name> links to it."""
    blobs = root / "hub" / repo / "blobs"
    snapshot = root / "hub" / repo / "snapshots" / "0123abcd"
    blobs.mkdir(parents=True)
    snapshot.mkdir(parents=True)
    (blobs / blob).symlink_to(target)
    link = snapshot / QWEN.filename
    link.symlink_to(os.path.relpath(blobs / blob, snapshot))
    return link


def test_the_order_is_path_pip_hf_cache_ollama_llamacpp():
    attempts = resolve("", assemble=False, servers=True, every=True).attempts
    assert [a.source for a in attempts] == list(SOURCES)
    assert all(a.detail for a in attempts)
    ollama = attempts[SOURCES.index("ollama")]
    assert not ollama.found and "127.0.0.1:9" in ollama.detail and "not running" in ollama.detail


def test_an_explicit_file_is_the_only_source_tried(tmp_path):
    not_gguf = tmp_path / "model.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 a zip, not a model")
    found = resolve(str(not_gguf))
    assert [a.source for a in found.attempts] == ["path"] and found.chosen is None
    assert found.attempts[0].problem and "not a GGUF file" in found.attempts[0].detail
    missing = resolve(str(tmp_path / "nowhere.gguf"))
    assert missing.chosen is None and "does not exist" in missing.explain()


def test_the_setting_names_a_file_when_the_command_line_does_not(tmp_path, monkeypatch):
    gguf = real_gguf()
    monkeypatch.setenv("KURA_LOCAL_MODEL", str(gguf))
    found = resolve("")
    assert found.chosen is not None and found.chosen.source == "path" and found.chosen.path == gguf
    assert "KURA_LOCAL_MODEL" in found.attempts[0].detail
    assert resolve("1.5b", assemble=False).attempts[0].source == "path"  # a model named wins over the setting
    assert resolve("1.5b", assemble=False).attempts[0].found is False


def test_a_hub_cache_file_is_verified_by_its_blob_name_and_pip_still_comes_first(tmp_path, monkeypatch):
    gguf = real_gguf()
    link = hub_layout(tmp_path / "hf", gguf)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    found = resolve("", every=True, servers=False)
    assert found.chosen is not None and found.chosen.source == "pip"  # the order: pip before the hub cache
    hub = next(a for a in found.attempts if a.source == "hf-cache")
    assert hub.found and str(link) in hub.detail and "SHA-256" in hub.detail


def test_a_model_found_only_in_the_hub_cache_runs_from_there(tmp_path, monkeypatch):
    """local:NAME that no pip package holds: found by name in the hub cache, loaded by llama.cpp."""
    pytest.importorskip("llama_cpp")
    gguf = real_gguf()
    link = hub_layout(tmp_path / "hf", gguf, blob="not-a-sha-named-blob")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    found = resolve("qwen2.5-coder-0.5b-instruct", servers=False)
    assert found.chosen is not None and found.chosen.source == "hf-cache" and found.chosen.path == link
    assert found.chosen.sha256 is None  # found by name only: not claimed to be the verified build
    assert "unknown as a bundled model" in found.attempts[1].detail

    from kura.llm.local_names import BudgetedNamer
    from kura.stages.naming import ClusterGroup

    llm = get_llm("local:qwen2.5-coder-0.5b-instruct")
    assert llm.name == "local/qwen2.5-coder-0.5b-instruct-q4_k_m"
    texts = ["translate good morning into Italian", "how do I say thank you in Italian", "Italian for cheers"]
    namer = BudgetedNamer(llm, budget_seconds=600)
    import asyncio

    [named] = asyncio.run(namer.name_groups([ClusterGroup(chat_ids=["a", "b", "c"], texts=texts)]))
    assert named.named_by == llm.name and 1 <= len(named.name.split()) <= 14


def test_the_hub_cache_does_not_take_a_different_model_for_the_default(tmp_path, monkeypatch):
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF" + b"\0" * 64)
    blobs = tmp_path / "hf" / "hub" / "models--x--llama" / "blobs"
    snap = tmp_path / "hf" / "hub" / "models--x--llama" / "snapshots" / "r1"
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    (blobs / "b1").symlink_to(other)
    (snap / "llama-3.2-1b-instruct-q4_k_m.gguf").symlink_to("../../blobs/b1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    hub = next(a for a in resolve("", assemble=False, every=True).attempts if a.source == "hf-cache")
    assert not hub.found and "llama-3.2-1b-instruct-q4_k_m.gguf" in hub.detail and "local:NAME" in hub.detail
    named = resolve("llama-3.2-1b", servers=False)
    assert named.chosen is not None and named.chosen.name == "local/llama-3.2-1b-instruct-q4_k_m"


OLLAMA_MODELS = [
    {"name": "nomic-embed-text:latest", "size": 274_000_000, "details": {"family": "nomic-bert"}},
    {"name": "llama3.2:3b", "size": 2_000_000_000, "details": {"family": "llama"}},
    {"name": "qwen2.5:1.5b", "size": 986_000_000, "details": {"family": "qwen2"}},
]


def test_ollama_serves_the_model_asked_for_through_its_openai_api(monkeypatch):
    with FakeOpenAIServer(models=OLLAMA_MODELS) as server:
        monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{server.port}")
        found = resolve("llama3.2", assemble=False)
        assert found.chosen is not None and found.chosen.source == "ollama"
        assert found.chosen.name == "ollama/llama3.2:3b" and found.chosen.base_url == server.url
        # With no model named, a running Ollama without the bundled one serves with its smallest
        # chat model - never an embedding model.
        every = resolve("", assemble=False, every=True)
        ollama = next(a for a in every.attempts if a.source == "ollama")
        assert ollama.found and "qwen2.5:1.5b" in ollama.detail and "smallest" in ollama.detail
        # And a run's calls go to it: the fake fills the schema, the seam validates it.
        import asyncio

        from kura.llm.local_names import BudgetedNamer
        from kura.stages.naming import ClusterGroup

        llm = get_llm("local:llama3.2")
        namer = BudgetedNamer(llm, budget_seconds=60)
        groups = [ClusterGroup(chat_ids=["a", "b"], texts=["reset my password", "forgot my password"])]
        [named] = asyncio.run(namer.name_groups(groups))
        assert llm.name == "ollama/llama3.2:3b" and named.named_by == "ollama/llama3.2:3b"
        assert server.counts["chat"] == 1


def test_llamacpp_server_serves_its_one_model(monkeypatch):
    models = [{"name": "/models/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf"}]
    with FakeOpenAIServer(models=models) as server:
        monkeypatch.setenv("LLAMACPP_BASE_URL", server.url)
        found = resolve("", assemble=False, every=True)
        attempt = found.attempts[-1]
        assert attempt.source == "llamacpp-server" and attempt.found and "the model asked for" in attempt.detail
        only = resolve("qwen2.5-coder-0.5b-instruct", servers=True)
        assert only.chosen is not None and only.chosen.source == "llamacpp-server"
        assert only.chosen.name == "llamacpp/Qwen2.5-Coder-0.5B-Instruct-Q4_K_M.gguf"
        assert "not running" in next(a for a in only.attempts if a.source == "ollama").detail


def doctor(*args, env=None):
    return subprocess.run(
        [sys.executable, "-c", "from kura.cli import main; main()", "doctor", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_doctor_says_which_model_and_why_and_fails_only_for_a_broken_part(tmp_path):
    done = doctor("--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    parts = [c["part"] for c in report["checks"]]
    assert parts[:5] == [f"{i}. {s}" for i, s in enumerate(SOURCES, start=1)]
    assert {"llama.cpp", "embedder", "chromium"} <= set(parts)
    assert report["local_model"]["why"]
    broken = tmp_path / "broken.gguf"
    broken.write_text("not a model")
    done = doctor(env={"KURA_LOCAL_MODEL": str(broken)})
    assert done.returncode == 1 and "not a GGUF file" in done.stdout and "Traceback" not in done.stderr
