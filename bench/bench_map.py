"""The map at scale: seconds and trustworthiness, full UMAP against UMAP on a sample + placement.

    python bench/make_scale_data.py /tmp/scale100k.jsonl --n 100000
    python bench/bench_map.py --input /tmp/scale100k.jsonl --sizes 10000 100000

The vectors are what the default pipeline embeds (the offline summary of each conversation, by
MiniLM); they are cached next to the input (``INPUT.minilm.npy``) because embedding 100,000 texts
takes minutes. Each projection runs in a fresh process, so UMAP's JIT compilation is counted as a
user would pay it. Quality is sklearn's trustworthiness (do points that are neighbours on the map
have neighbours in the vectors? 1.0 is perfect) with 10 neighbours, over the same seeded sample of
``--quality-points`` points for every method (the measure needs all pairwise distances).

Methods: ``full`` is plain UMAP over every point (what Kura did at every size; skipped above
``--full-max``), ``sample`` is Kura's UMAPProjector (UMAP on a sample, the rest placed beside their
nearest sampled neighbours), ``transform`` places the rest with ``umap_model.transform`` instead,
for reference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from kura.stages.project import UMAPProjector

CHILD = """
import json, resource, sys, time
import numpy as np
vectors = np.load(sys.argv[1], mmap_mode="r")[: int(sys.argv[2])]
method, sample_size = sys.argv[3], int(sys.argv[5])
start = time.perf_counter()
from kura.stages.project import UMAPProjector
if method == "full":
    points = UMAPProjector(sample_size=len(vectors)).fit_transform(np.asarray(vectors))
elif method == "sample":
    points = UMAPProjector(sample_size=sample_size).fit_transform(np.asarray(vectors))
else:  # reference: UMAP's own transform for the points outside the sample
    import warnings
    from umap import UMAP
    p = UMAPProjector(sample_size=sample_size)
    rows = p.sample_rows(len(vectors))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs.*")
        model = UMAP(n_neighbors=p.n_neighbors, min_dist=p.min_dist, metric=p.metric, random_state=p.seed)
        points = np.zeros((len(vectors), 2))
        points[rows] = model.fit_transform(np.asarray(vectors[rows]))
        rest = np.setdiff1d(np.arange(len(vectors)), rows)
        points[rest] = model.transform(np.asarray(vectors[rest]))
seconds = time.perf_counter() - start
np.save(sys.argv[4], points)
print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def cached_vectors(path: Path, n: int) -> Path:
    """The default pipeline's vectors for the first ``n`` conversations of ``path`` (cached)."""
    cache = path.with_suffix(".minilm.npy")
    if cache.exists() and len(np.load(cache, mmap_mode="r")) >= n:
        return cache
    from kura.embedders import MiniLMEmbedder
    from kura.io import iter_conversations
    from kura.stages.summarise import ExtractiveSummariser

    summariser = ExtractiveSummariser()

    async def summaries() -> list[str]:
        return [(await summariser.summarise_one(c)).summary for c in iter_conversations(path)]

    texts = asyncio.run(summaries())
    start = time.perf_counter()
    np.save(cache, MiniLMEmbedder().encode(texts))
    print(f"embedded {len(texts):,} texts in {time.perf_counter() - start:.0f} s -> {cache}", flush=True)
    return cache


def project(vectors: Path, n: int, method: str, sample_size: int, out: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(vectors), str(n), method, str(out), str(sample_size)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        raise SystemExit(f"{method} at {n:,} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def trustworthiness_on_sample(vectors: np.ndarray, points: np.ndarray, rows: np.ndarray) -> float:
    from sklearn.manifold import trustworthiness

    return float(trustworthiness(vectors[rows], points[rows], n_neighbors=10, metric="cosine"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, required=True, help="conversations (bench/make_scale_data.py)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--methods", nargs="+", default=["full", "sample", "transform"])
    parser.add_argument(
        "--sample-sizes", type=int, nargs="+", default=[UMAPProjector().sample_size], help="for sample, transform"
    )
    parser.add_argument("--full-max", type=int, default=100_000, help="skip full UMAP above this size")
    parser.add_argument("--quality-points", type=int, default=5_000)
    args = parser.parse_args()
    cache = cached_vectors(args.input, max(args.sizes))
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    print(f"{'n':>8} {'method':<10} {'sample':>7} {'seconds':>8} {'peak MB':>8} {'trustworthiness':>16}")
    for n in args.sizes:
        vectors = np.load(cache, mmap_mode="r")[:n]
        rows = np.sort(np.random.default_rng(0).choice(n, size=min(n, args.quality_points), replace=False))
        runs = [(m, s) for m in args.methods for s in ([n] if m == "full" else args.sample_sizes)]
        for method, sample_size in runs:
            if (method == "full" and n > args.full_max) or (method != "full" and sample_size >= n):
                continue  # too slow, or the same as full UMAP
            out = args.input.with_suffix(f".map-{method}-{sample_size}-{n}.npy")
            measured = project(cache, n, method, sample_size, out)
            quality = trustworthiness_on_sample(np.asarray(vectors), np.load(out), rows)
            print(
                f"{n:>8,} {method:<10} {min(sample_size, n):>7,} {measured['seconds']:>8.1f} "
                f"{measured['peak_rss_mb']:>8.0f} {quality:>16.4f}",
                flush=True,
            )
    print("reproduce: python bench/bench_map.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
