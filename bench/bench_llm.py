"""Language-model pipeline throughput against an OpenAI-compatible server on 127.0.0.1.

    python bench/bench_llm.py                      # N = 5,000 real conversations, 200 ms per answer
    python bench/bench_llm.py --n 1000 --delay 0.2 --concurrency 50 --projector pca

The server (``python -m kura.llm.fake_server``, a separate process) answers every chat and
embedding request after ``--delay`` seconds, so the ideal summarise stage takes
N x delay / concurrency (20 s for the defaults). The pipeline runs as a user would run it, with
``kura run DATA --llm openai/bench --base-url URL --embedder openai/text-embedding-3-small``, in a
fresh process and a fresh run directory, then once more on the same directory (which should send
nothing). Printed: the summarise stage against the ideal, requests per conversation (chat and
embeddings, counted at the server), wall time of the whole pipeline with each stage's, peak
memory (max RSS of the kura process), and the map's quality: trustworthiness (do neighbours on
the map have neighbours in the vectors? 1.0 is perfect; scikit-learn, 10 neighbours, cosine)
over a seeded sample of up to 5,000 of the run's points.

Data: the HH-RLHF harmless test split (2,312 multi-turn conversations) and CLINC150 requests
(every 8th row, so all 150 intents), interleaved until N (``--hh`` and ``--clinc`` to change).

Targets (issue 3): summarise <= 1.1 x ideal, <= 1.15 requests per conversation.
Kura 0.5.4 on the same set-up: 45 s summarise (44% of ideal), 1.40 requests per conversation,
118 s for the whole pipeline, 1.0 GB peak.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from itertools import islice
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"  # real data kept in the repository (tests/data/README.md)


def write_dataset(path: Path, n: int, hh: Path, clinc: Path) -> dict[str, int]:
    """N conversations, HH-RLHF and CLINC150 interleaved, as Kura-format JSONL."""
    from kura.io import iter_conversations

    first = iter_conversations(str(hh))
    second = islice(iter_conversations(str(clinc)), 0, None, 8)
    counts = {"hh_rlhf": 0, "clinc150": 0}
    written = 0
    with open(path, "w", encoding="utf-8") as f:
        sources = [("hh_rlhf", first), ("clinc150", second)]
        while written < n and sources:
            for name, source in list(sources):
                conversation = next(source, None)
                if conversation is None:
                    sources.remove((name, source))
                    continue
                f.write(
                    json.dumps(
                        {
                            "id": conversation.chat_id,
                            "messages": [{"role": m.role, "content": m.content} for m in conversation.messages],
                        }
                    )
                )
                f.write("\n")
                counts[name] += 1
                written += 1
                if written >= n:
                    break
    return counts


def stats(url: str) -> dict[str, int]:
    with urllib.request.urlopen(url.rsplit("/v1", 1)[0] + "/v1/stats", timeout=10) as response:
        return json.loads(response.read())


def run_kura(data: Path, out: Path, url: str, args: argparse.Namespace) -> tuple[float, dict, float]:
    command = [
        sys.executable,
        "-c",
        "from kura.cli import main; main()",
        "run",
        str(data),
        "--out",
        str(out),
        "--llm",
        "openai/bench",
        "--base-url",
        url,
        "--embedder",
        "openai/text-embedding-3-small",
        "--concurrency",
        str(args.concurrency),
        "--projector",
        args.projector,
        "-q",
    ]
    env = {**os.environ, "OPENAI_API_KEY": "bench-key-not-secret"}
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"kura run failed:\n{done.stderr[-3000:]}")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return seconds, json.loads((out / "run.json").read_text()), peak_mb


def map_trustworthiness(run: Path, points: int = 5000) -> float:
    import numpy as np
    from sklearn.manifold import trustworthiness

    vectors = np.load(run / "vectors.npy")
    vectors = vectors[np.isfinite(vectors).all(axis=1)]  # the map has a row for each embedded summary
    layout = np.load(run / "points.npy")
    rows = np.sort(np.random.default_rng(0).choice(len(vectors), size=min(points, len(vectors)), replace=False))
    return float(trustworthiness(vectors[rows], layout[rows], n_neighbors=10, metric="cosine"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="conversations (default 5000)")
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the server takes per request (default 0.2)")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight (default 50)")
    parser.add_argument("--projector", default="umap", help="map layout: umap (default) or pca")
    parser.add_argument("--hh", type=Path, default=DATA / "hh_rlhf_harmless_test.jsonl.gz")
    parser.add_argument("--clinc", type=Path, default=DATA / "clinc150.jsonl.gz")
    args = parser.parse_args()

    server = subprocess.Popen(
        [sys.executable, "-m", "kura.llm.fake_server", "--delay", str(args.delay)], stdout=subprocess.PIPE, text=True
    )
    load = os.getloadavg()[0]
    try:
        url = server.stdout.readline().strip()  # type: ignore[union-attr]
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "conversations.jsonl"
            mix = write_dataset(data, args.n, args.hh, args.clinc)
            n = sum(mix.values())
            seconds, meta, peak_mb = run_kura(data, Path(tmp) / "run", url, args)
            first = stats(url)
            quality = map_trustworthiness(Path(tmp) / "run")
            again_seconds, again_meta, _ = run_kura(data, Path(tmp) / "run", url, args)
            second = stats(url)
    finally:
        server.terminate()
        server.wait(10)

    requests = first.get("chat", 0) + first.get("embeddings", 0)
    again_requests = second.get("chat", 0) + second.get("embeddings", 0) - requests
    ideal = n * args.delay / args.concurrency
    summarise = meta["seconds"]["Summarising"]
    usage = meta["usage"]["stages"]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load:.1f} at start"
    )
    print(f"data: {n:,} conversations ({mix['hh_rlhf']:,} HH-RLHF harmless test, {mix['clinc150']:,} CLINC150)")
    print(
        f"server: OpenAI-compatible on 127.0.0.1, {args.delay * 1000:.0f} ms per chat and embedding request; concurrency {args.concurrency}"
    )
    print(
        f"summarise stage: {summarise:.1f} s (ideal {ideal:.1f} s): {summarise / ideal:.2f} x ideal, {ideal / summarise:.0%} of ideal throughput"
    )
    print(
        f"requests: {requests:,} = {requests / n:.3f} per conversation "
        f"(chat {first.get('chat', 0):,}: summarise {usage['summarise']['requests']:,}, clusters {usage['clusters']['requests']:,}, "
        f"hierarchy {usage['hierarchy']['requests']:,}; embeddings {first.get('embeddings', 0):,})"
    )
    print(
        f"whole pipeline: {seconds:.1f} s wall (stages: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in meta["seconds"].items())
        + ")"
    )
    print(f"peak memory: {peak_mb:,.0f} MB (max RSS of the kura process)")
    print(f"map quality: trustworthiness {quality:.4f} (10 neighbours, cosine, up to 5,000 seeded points)")
    print(
        f"second run on the same directory: {again_seconds:.1f} s, {again_requests} requests, reused {', '.join(again_meta['reused'])}"
    )
    print(
        f"targets: summarise <= 1.10 x ideal: {'met' if summarise <= 1.1 * ideal else 'MISSED'}; "
        f"<= 1.15 requests per conversation: {'met' if requests / n <= 1.15 else 'MISSED'}"
    )
    print(
        f"command: python bench/bench_llm.py --n {args.n} --delay {args.delay} --concurrency {args.concurrency} --projector {args.projector}"
    )


if __name__ == "__main__":
    main()
