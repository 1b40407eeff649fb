"""A million vectors through base clustering, hierarchy and map: time and peak memory per stage.

    python bench/bench_million.py --sizes 1000 10000 100000 1000000
    python bench/bench_million.py --sizes 1000 10000 100000 1000000 --plot docs/images/scale.png

The vectors: real MiniLM embeddings, resampled with noise.

1. The base set is every distinct real user request in ``../shared/data`` (CLINC150's 22,500
   in-scope and 200 out-of-scope queries, the OpenAssistant and HH-RLHF user turns: about 28,000
   texts, gathered by ``bench/make_scale_data.py``'s ``real_turns``), embedded once by Kura's
   default embedder (MiniLM int8 ONNX) and cached in ``--cache`` (``/tmp/million_base.npy`` and
   ``.json``, the texts).
2. Each of the N vectors picks a base row uniformly at random (seeded), adds Gaussian noise and
   is normalised back to unit length. The noise is isotropic with a per-row scale: its expected
   length is ``--noise`` (0.5) times that row's distance to its nearest other base vector
   (floored at the 10th percentile of those distances, so that near-duplicate base rows still
   get noise). So a copy lies closer to its parent than the parent's nearest real neighbour, in
   a random direction, and no two of the N vectors are the same.
3. The N vectors are written as float32 to ``--vectors`` (``/tmp/million_N.npy``, 1.5 GB at a
   million) together with each row's parent (``.parents.npy``), and every stage opens them with
   ``mmap_mode="r"``, as Kura's run directory does.

Why not exact duplicates (the base set repeated): k-means, nearest-neighbour search and UMAP
all find repeated points easier than real traffic (zero-distance neighbours, clusters that are
single points), which flatters every stage. Why not pure noise: the data would lose the topic
structure that makes clusters worth reading. The noisy copies keep the real topics and the real
density (dense regions get small noise) while each point is its own.

Stages, each run in a fresh process per size so that its peak RSS (``ru_maxrss``, which counts
the pages of the memory-mapped vectors it touched) is its own:

- ``cluster``: ``KMeansClusterer()`` (Kura's default) labels, then the typical and contrastive
  examples of every cluster and offline names (``DistinctiveTermsNamer``), as the pipeline's
  cluster stage does; every row's "summary" is its parent's real text;
- ``hierarchy``: ``EmbeddingHierarchy()`` over the base clusters' centroids (the pipeline's
  ``level_input`` then ``build``);
- ``map``: ``UMAPProjector()`` (the default: UMAP on a 4,000 sample, the rest placed).

``--compare`` instead measures the k-means engines side by side at each size on the same
vectors and the same k (``KMeansClusterer``'s Ward path, scikit-learn's ``MiniBatchKMeans`` and
faiss k-means, each in a fresh process): seconds, peak RSS and the k-means objective (mean squared
distance to the assigned centroid over all N rows; lower is better).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

CACHE = Path("/tmp/million_base")


def base_set(cache: Path = CACHE) -> tuple[np.ndarray, list[str]]:
    """The real base vectors (unit length, float32) and their texts, embedded once and cached."""
    vectors_file, texts_file = cache.with_suffix(".npy"), cache.with_suffix(".json")
    if vectors_file.exists() and texts_file.exists():
        return np.load(vectors_file), json.loads(texts_file.read_text())
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from make_scale_data import DATA, real_turns

    from kura.embedders import MiniLMEmbedder

    requests, _ = real_turns(DATA)
    texts = sorted({t for group in requests.values() for t in group})
    start = time.perf_counter()
    vectors = MiniLMEmbedder().encode(texts).astype(np.float32)
    print(f"embedded {len(texts):,} base texts in {time.perf_counter() - start:.0f} s -> {vectors_file}", flush=True)
    np.save(vectors_file, vectors)
    texts_file.write_text(json.dumps(texts))
    return vectors, texts


def make_vectors(path: Path, n: int, *, seed: int = 0, noise: float = 0.5, chunk: int = 65_536) -> None:
    """Write ``n`` noisy copies of base rows (float32, unit length) and their parents' indices."""
    from sklearn.neighbors import NearestNeighbors

    base, _ = base_set()
    dim = base.shape[1]
    distances, _ = NearestNeighbors(n_neighbors=2).fit(base).kneighbors(base)
    nearest_other = distances[:, 1]
    # Per-row scale: a draw from N(0, s^2 I_d) has length about s * sqrt(d).
    scale = noise * np.maximum(nearest_other, np.quantile(nearest_other, 0.1)) / math.sqrt(dim)
    rng = np.random.default_rng(seed)
    parents = rng.integers(len(base), size=n)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, dim))
    for start in range(0, n, chunk):
        rows = parents[start : start + chunk]
        block = base[rows] + rng.standard_normal((len(rows), dim), dtype=np.float32) * scale[rows, None]
        out[start : start + len(rows)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    out.flush()
    del out
    np.save(path.with_suffix(".parents.npy"), parents.astype(np.int32))
    path.with_suffix(".json").write_text(json.dumps({"n": n, "seed": seed, "noise": noise, "base": len(base)}))
    print(
        f"wrote {n:,} vectors to {path} from {len(base):,} base rows (noise {noise} x nearest-neighbour "
        f"distance, median {np.median(nearest_other):.3f})",
        flush=True,
    )


def vectors_for(path: Path, n: int, seed: int, noise: float) -> Path:
    """``path`` holding at least ``n`` vectors made with these settings (written if not)."""
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        made = json.loads(meta.read_text())
        if made["n"] >= n and made["seed"] == seed and made["noise"] == noise:
            return path
    make_vectors(path, n, seed=seed, noise=noise)
    return path


# ---------------------------------------------------------------------------------------------
# One stage in this process (the parent starts a fresh process per stage and size)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process: on a shared machine, steadier than wall time."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def open_vectors(path: Path, n: int) -> tuple[np.ndarray, list[str]]:
    """The first ``n`` vectors (memory-mapped) and each row's "summary": its parent's real text."""
    _, texts = base_set()
    parents = np.load(path.with_suffix(".parents.npy"), mmap_mode="r")[:n]
    return np.load(path, mmap_mode="r")[:n], [texts[p] for p in parents]


def stage_cluster(path: Path, n: int, work: Path) -> dict:
    import asyncio

    from kura.stages.cluster import KMeansClusterer, groups_from_labels, name_base_clusters
    from kura.stages.naming import DistinctiveTermsNamer

    vectors, texts = open_vectors(path, n)
    start = time.perf_counter()
    labels = KMeansClusterer().fit_predict(vectors)
    fitted = time.perf_counter() - start
    groups = groups_from_labels(labels, vectors, [f"c{i}" for i in range(n)], texts)
    base = asyncio.run(name_base_clusters(groups, DistinctiveTermsNamer()))
    seconds = time.perf_counter() - start
    np.save(work / f"labels-{n}.npy", labels)
    (work / f"names-{n}.json").write_text(json.dumps([[c.name, c.description, c.slug] for c in base]))
    return {"seconds": seconds, "fit_seconds": fitted, "clusters": len(base)}


def stage_hierarchy(path: Path, n: int, work: Path) -> dict:
    """As the pipeline's hierarchy stage: centroids and typical texts (``level_input``), then build."""
    import asyncio

    from kura.stages.hierarchy import EmbeddingHierarchy, LevelInput
    from kura.stages.naming import cluster_id
    from kura.types import Cluster

    vectors, texts = open_vectors(path, n)
    labels = np.load(work / f"labels-{n}.npy")
    names = json.loads((work / f"names-{n}.json").read_text())
    start = time.perf_counter()
    order = np.argsort(labels, kind="stable")
    members = np.split(order, np.cumsum(np.bincount(labels))[:-1])
    base, centroids, typical = [], [], []
    for (name, description, slug), rows in zip(names, members):
        block = np.asarray(vectors[rows], dtype=np.float64)
        centroid = block.mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        chat_ids = [f"c{i}" for i in rows]
        base.append(
            Cluster(
                id=cluster_id(0, chat_ids),
                name=name,
                description=description,
                slug=slug,
                chat_ids=chat_ids,
                parent_id=None,
            )
        )
        centroids.append(centroid)
        typical.append([texts[i] for i in rows[np.argsort(-(block @ centroid), kind="stable")[:25]]])
    tree = asyncio.run(
        EmbeddingHierarchy().build(LevelInput(clusters=base, vectors=np.vstack(centroids), texts=typical))
    )
    return {"seconds": time.perf_counter() - start, "clusters": len(tree)}


def stage_map(path: Path, n: int, work: Path) -> dict:
    from kura.stages.project import UMAPProjector

    vectors, _ = open_vectors(path, n)
    start = time.perf_counter()
    points = UMAPProjector().fit_transform(vectors)
    seconds = time.perf_counter() - start
    np.save(work / f"map-{n}.npy", points.astype(np.float32))
    return {"seconds": seconds}


def engine_labels(method: str, vectors: np.ndarray, k: int, seed: int, sample: int) -> np.ndarray:
    """Labels from one k-means engine, for ``--compare`` (same k, same seeded sample)."""
    from kura.stages.cluster import KMeansClusterer

    n = len(vectors)
    if method == "kura":
        return KMeansClusterer(n_clusters=k, seed=seed, sample_above=sample).fit_predict(vectors)
    if method == "minibatch":
        return KMeansClusterer(n_clusters=k, seed=seed, minibatch=True).fit_predict(vectors)
    if method.startswith("faiss"):
        import faiss

        # faiss-S: train on a seeded sample of S rows (faiss-50k is Kura's sample), assign all.
        size = min(n, int(method.split("-")[1].rstrip("k")) * 1000)
        rows = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
        km = faiss.Kmeans(vectors.shape[1], k, niter=20, seed=seed + 1, max_points_per_centroid=size, verbose=False)
        km.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))
        out = np.empty(n, dtype=np.int64)
        for start in range(0, n, 65_536):
            block = np.ascontiguousarray(vectors[start : start + 65_536], dtype=np.float32)
            out[start : start + len(block)] = km.index.search(block, 1)[1][:, 0]
        return out
    raise SystemExit(f"unknown method {method!r}: use kura, minibatch or faiss-50k, faiss-200k ...")


def stage_engine(path: Path, n: int, work: Path, method: str, k: int, seed: int, sample: int) -> dict:
    vectors = np.load(path, mmap_mode="r")[:n]
    start = time.perf_counter()
    labels = engine_labels(method, vectors, k, seed, sample)
    seconds = time.perf_counter() - start
    np.save(work / f"engine-{method}-{n}.npy", labels)
    return {"seconds": seconds}


def objective(vectors: np.ndarray, labels: np.ndarray, chunk: int = 65_536) -> float:
    """Mean squared distance of every row to the mean of its cluster (the k-means objective / n)."""
    k = int(labels.max()) + 1
    sums = np.zeros((k, vectors.shape[1]))
    for start in range(0, len(vectors), chunk):
        np.add.at(sums, labels[start : start + chunk], np.asarray(vectors[start : start + chunk], dtype=np.float64))
    centroids = sums / np.maximum(np.bincount(labels, minlength=k), 1)[:, None]
    total = 0.0
    for start in range(0, len(vectors), chunk):
        block = np.asarray(vectors[start : start + chunk], dtype=np.float64)
        total += float(((block - centroids[labels[start : start + chunk]]) ** 2).sum())
    return total / len(vectors)


# ---------------------------------------------------------------------------------------------
# The parent: a fresh process per stage and size


def run_child(args: argparse.Namespace, stage: str, n: int, extra: list[str] | None = None) -> dict:
    command = [sys.executable, __file__, "--child", stage, "--n", str(n), "--vectors", str(args.vectors)]
    command += ["--work", str(args.work), *(extra or [])]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{stage} at {n:,} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def plot(rows: list[dict], out: Path) -> None:
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.2), dpi=100)
    sizes = sorted({r["n"] for r in rows})
    for stage, marker in (("cluster", "o"), ("hierarchy", "s"), ("map", "^"), ("total", "D")):
        mine = [r for r in rows if r["stage"] == stage]
        if stage == "total":  # times add up; memory is the largest stage's (one process each)
            mine = [
                {
                    "n": n,
                    **{key: sum(r[key] for r in rows if r["n"] == n) for key in ("seconds", "cpu_seconds")},
                    "peak_rss_mb": max(r["peak_rss_mb"] for r in rows if r["n"] == n),
                }
                for n in sizes
            ]
        xs = [r["n"] for r in mine]
        (line,) = left.plot(xs, [r["seconds"] for r in mine], marker=marker, label=stage)
        left.plot(xs, [r["cpu_seconds"] for r in mine], marker=marker, linestyle=":", color=line.get_color())
        right.plot(xs, [r["peak_rss_mb"] / 1024 for r in mine], marker=marker, label=stage)
    titles = ("seconds: wall (solid), CPU (dotted)", "peak RSS, GB (total: largest stage)")
    for ax, title in zip((left, right), titles):
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
        ax.yaxis.set_major_formatter(plain)
        if ax is right:  # memory spans one decade: label the minor ticks too
            ax.yaxis.set_minor_formatter(plain)
        ax.set_xlabel("vectors (384-d)")
        ax.set_title(title, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"plot -> {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--stages", nargs="+", default=["cluster", "hierarchy", "map"])
    parser.add_argument("--vectors", type=Path, default=Path("/tmp/million_vectors.npy"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/million_work"), help="labels and maps between stages")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise", type=float, default=0.5, help="noise length / nearest-neighbour distance")
    parser.add_argument("--compare", nargs="*", help="k-means engines instead of stages: kura minibatch faiss-50k ...")
    parser.add_argument("--k", type=int, default=5_000, help="k for --compare")
    parser.add_argument("--sample", type=int, default=50_000, help="Kura's sample for --compare")
    parser.add_argument("--plot", type=Path, help="write a PNG of time and memory per stage")
    parser.add_argument("--results", type=Path, help="also append the rows as JSON lines here")
    parser.add_argument("--from-results", type=Path, help="measure nothing: plot the rows of this --results file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        stages = {"cluster": stage_cluster, "hierarchy": stage_hierarchy, "map": stage_map}
        if args.child == "engine":
            result = stage_engine(args.vectors, args.n, args.work, args.method, args.k, args.seed, args.sample)
        else:
            result = stages[args.child](args.vectors, args.n, args.work)
        print(json.dumps({**result, "peak_rss_mb": peak_rss_mb(), "cpu_seconds": cpu_seconds()}))
        return

    if args.from_results:
        if not args.plot:
            parser.error("--from-results needs --plot")
        plot([json.loads(line) for line in args.from_results.read_text().splitlines() if line.strip()], args.plot)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    vectors_for(args.vectors, max(args.sizes), args.seed, args.noise)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at start, {date.today()}"
    )
    rows: list[dict] = []
    if args.compare is not None:
        methods = args.compare or ["kura", "minibatch", "faiss-50k", "faiss-200k"]
        print(f"{'n':>9} {'method':<11} {'k':>6} {'seconds':>8} {'CPU s':>8} {'peak MB':>8} {'objective':>10}  load")
        for n in args.sizes:
            for method in methods:
                measured = run_child(args, "engine", n, ["--method", method, "--k", str(args.k)])
                measured["sample"] = args.sample
                labels = np.load(args.work / f"engine-{method}-{n}.npy")
                score = objective(np.load(args.vectors, mmap_mode="r")[:n], labels)
                row = {"n": n, "method": method, "k": int(labels.max()) + 1, **measured, "objective": score}
                rows.append(row)
                print(
                    f"{n:>9,} {method:<11} {row['k']:>6,} {row['seconds']:>8.1f} {row['cpu_seconds']:>8.1f} "
                    f"{row['peak_rss_mb']:>8.0f} "
                    f"{score:>10.5f}  {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    else:
        print(f"{'n':>9} {'stage':<10} {'seconds':>8} {'CPU s':>8} {'peak MB':>8}  detail  load")
        for n in args.sizes:
            for stage in args.stages:
                measured = run_child(args, stage, n)
                rows.append({"n": n, "stage": stage, **measured})
                detail = f"{measured['clusters']:,} clusters" if "clusters" in measured else ""
                if "fit_seconds" in measured:
                    detail += f" (labels {measured['fit_seconds']:.1f} s)"
                print(
                    f"{n:>9,} {stage:<10} {measured['seconds']:>8.1f} {measured['cpu_seconds']:>8.1f} "
                    f"{measured['peak_rss_mb']:>8.0f}  {detail}  "
                    f"{os.getloadavg()[0]:.1f}",
                    flush=True,
                )
    if args.results:
        with args.results.open("a") as out:
            for row in rows:
                out.write(json.dumps(row) + "\n")
    if args.plot and args.compare is None:
        plot(rows, args.plot)
    print("reproduce: python bench/bench_million.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
