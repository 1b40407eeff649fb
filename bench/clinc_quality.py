"""Clustering quality on CLINC150 without a language model: base clusters vs the 150 intents,
the top of the hierarchy vs the 10 domains.

    python bench/clinc_quality.py                      # 20 queries per intent (3,000), ~20 s
    python bench/clinc_quality.py --n-per-intent 0     # all 22,500 queries, ~1.5 min + embedding
    python bench/clinc_quality.py --cache --compare    # reuse /tmp/clinc_X.npy, add the baselines

Recommended methods (chosen on this data set, but nothing here reads the labels):

* base clusters, ``ward_kmeans``: Ward linkage over the conversation vectors restricted to a
  15-nearest-neighbour graph, cut at k = ceil(n / 10), then Lloyd k-means started from those
  clusters' means. Better and faster than k-means++ with restarts.
* hierarchy, ``smoothed_ward_hierarchy``: one smoothing step over the base centroids (each moves
  half-way to the mean of its 10 nearest centroids), then Ward's method continued from the base
  clusters, each weighted by its size (merge cost = growth of the within-cluster sum of squares
  of the conversations). Every level is a cut of that one dendrogram, so levels nest by
  construction; sizes shrink geometrically to ``top``.

Both live in ``kura.stages.ward``; this script measures them against the baselines.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "clinc150.jsonl.gz"  # kept in the repository
DOMAINS = DATA.parent / "clinc150_domains.json"
CACHE = Path("/tmp/clinc_X.npy")

# The methods Kura ships (kura.stages.ward) and the baselines they were chosen against.

from kura.stages.ward import geometric_sizes as level_sizes  # noqa: E402
from kura.stages.ward import unit as _unit  # noqa: E402
from kura.stages.ward import ward_kmeans, ward_levels  # noqa: E402


def cluster_centroids(vectors: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit-length mean vector and size of each cluster 0..k-1."""
    k = int(labels.max()) + 1
    sums = np.zeros((k, vectors.shape[1]))
    np.add.at(sums, labels, vectors)
    sizes = np.bincount(labels, minlength=k).astype(np.float64)
    return _unit(sums / np.maximum(sizes, 1)[:, None]), sizes


def smoothed_ward_hierarchy(centroids: np.ndarray, sizes: np.ndarray, top: int, *, seed: int = 0) -> list[np.ndarray]:
    """Kura's offline hierarchy: parents per level, geometric level sizes down to ``top``."""
    return ward_levels(centroids, sizes, level_sizes(len(centroids), top), seed=seed)


def kmeans_base(vectors: np.ndarray, k: int, *, seed: int = 0, n_init: int = 3) -> np.ndarray:
    """Kura's current base clusters: k-means++ with ``n_init`` restarts."""
    from sklearn.cluster import KMeans

    return KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(vectors)


def ward_top(centroids: np.ndarray, top: int) -> np.ndarray:
    """Reference: unweighted Ward linkage over the unit centroids, cut at ``top``."""
    from sklearn.cluster import AgglomerativeClustering

    return AgglomerativeClustering(top, linkage="ward").fit_predict(centroids)


def kmeans_multilevel_top(centroids: np.ndarray, sizes: np.ndarray, top: int, seed: int) -> np.ndarray:
    """Kura's EmbeddingHierarchy today: size-weighted k-means on centroids, level by level."""
    from sklearn.cluster import KMeans

    V, w, mapping = centroids, sizes, np.arange(len(centroids))
    for size in level_sizes(len(V), top):
        lab = KMeans(size, random_state=seed, n_init=10).fit_predict(V, sample_weight=w)
        sums = np.zeros((size, V.shape[1]))
        np.add.at(sums, lab, V * w[:, None])
        w = np.bincount(lab, weights=w, minlength=size)
        V, mapping = _unit(sums / w[:, None]), lab[mapping]
    return mapping


# ---------------------------------------------------------------------------------------------
# Bench


def load(n_per_intent: int, seed: int) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Texts, intents, domains and row numbers (a stratified sample unless n_per_intent == 0)."""
    rows = [json.loads(line) for line in gzip.open(DATA, "rt", encoding="utf-8")]
    intents = np.array([r["label"] for r in rows])
    domain_of = {i: d for d, ints in json.loads(DOMAINS.read_text()).items() for i in ints}
    if n_per_intent:
        rng = np.random.default_rng(seed)
        keep = np.sort(
            np.concatenate(
                [
                    rng.choice(
                        np.flatnonzero(intents == lab),
                        size=min(n_per_intent, int((intents == lab).sum())),
                        replace=False,
                    )
                    for lab in sorted(set(intents))
                ]
            )
        )
    else:
        keep = np.arange(len(rows))
    texts = [rows[i]["messages"][0]["content"] for i in keep]
    return texts, intents[keep], np.array([domain_of[i] for i in intents[keep]]), keep


def embed(texts: list[str], keep: np.ndarray, use_cache: bool) -> np.ndarray:
    from kura.embedders import MiniLMEmbedder

    if not use_cache:
        return MiniLMEmbedder().encode(texts)
    if not CACHE.exists():
        rows = [json.loads(line) for line in gzip.open(DATA, "rt", encoding="utf-8")]
        np.save(CACHE, MiniLMEmbedder().encode([r["messages"][0]["content"] for r in rows]))
    return np.load(CACHE)[keep]


def scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn import metrics

    h, c, _ = metrics.homogeneity_completeness_v_measure(truth, pred)
    _, t = np.unique(truth, return_inverse=True)
    _, p = np.unique(pred, return_inverse=True)
    table = np.zeros((p.max() + 1, t.max() + 1))
    np.add.at(table, (p, t), 1)
    return {
        "k": len(set(pred.tolist())),
        "NMI": metrics.normalized_mutual_info_score(truth, pred),
        "AMI": metrics.adjusted_mutual_info_score(truth, pred),
        "hom": h,
        "comp": c,
        "purity": table.max(axis=1).sum() / len(truth),
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-per-intent", type=int, default=20, help="queries per intent (0 = all 22,500)")
    ap.add_argument("--seed", type=int, default=0, help="sample and clustering seed")
    ap.add_argument("--top", type=int, default=10, help="top-level clusters")
    ap.add_argument("--cache", action="store_true", help=f"embed all rows once into {CACHE} and reuse")
    ap.add_argument("--compare", action="store_true", help="also run Kura's current methods and Ward (reference)")
    args = ap.parse_args(argv)

    texts, intents, domains, keep = load(args.n_per_intent, args.seed)
    n = len(texts)
    t0 = time.perf_counter()
    X = np.asarray(embed(texts, keep, args.cache), dtype=np.float64)
    times = {"embed": time.perf_counter() - t0}
    k = math.ceil(n / 10)
    rows: list[tuple[str, str, dict[str, float], float]] = []

    def timed(fn, *a, **kw):
        t = time.perf_counter()
        out = fn(*a, **kw)
        return out, time.perf_counter() - t

    base, dt = timed(ward_kmeans, X, k, seed=args.seed)
    rows.append((f"base ward_kmeans k={k}", "intents", scores(intents, base), dt))
    b150, dt = timed(ward_kmeans, X, 150, seed=args.seed)
    rows.append(("base ward_kmeans k=150", "intents", scores(intents, b150), dt))

    C, w = cluster_centroids(X, base)
    dnames = sorted(set(domains.tolist()))
    majority = np.zeros((len(C), len(dnames)), dtype=np.int64)
    np.add.at(majority, (base, np.array([dnames.index(d) for d in domains])), 1)
    rows.append(("ceiling: base -> majority domain", "domains", scores(domains, majority.argmax(1)[base]), 0.0))

    parents, dt = timed(smoothed_ward_hierarchy, C, w, args.top, seed=args.seed)
    top = np.arange(len(C))
    for p in parents:
        top = p[top]
    levels = " -> ".join(str(int(p.max()) + 1) for p in parents)
    rows.append((f"top smoothed_ward_hierarchy ({k} -> {levels})", "domains", scores(domains, top[base]), dt))

    if args.compare:
        n_init = 3 if n <= 10_000 else 1  # Kura uses 3; 1 keeps the full run under a few minutes
        km, dt = timed(kmeans_base, X, k, seed=args.seed, n_init=n_init)
        rows.insert(1, (f"base kmeans n_init={n_init} k={k}", "intents", scores(intents, km), dt))
        km150, dt = timed(kmeans_base, X, 150, seed=args.seed, n_init=3)
        rows.insert(3, ("base kmeans n_init=3 k=150", "intents", scores(intents, km150), dt))
        lab, dt = timed(ward_top, C, args.top)
        rows.append(("top ward over centroids (reference)", "domains", scores(domains, lab[base]), dt))
        lab, dt = timed(kmeans_multilevel_top, C, w, args.top, args.seed)
        rows.append(("top kmeans multi-level (Kura now)", "domains", scores(domains, lab[base]), dt))
        Ck, wk = cluster_centroids(X, km)
        lab, dt = timed(ward_top, Ck, args.top)
        rows.append((f"top ward over kmeans n_init={n_init} base", "domains", scores(domains, lab[km]), dt))

    print(
        f"CLINC150, n={n} ({'all' if not args.n_per_intent else f'{args.n_per_intent} per intent'}), "
        f"seed={args.seed}, embed {times['embed']:.1f}s"
    )
    head = f"{'method':46s} {'vs':8s} {'k':>5s} {'NMI':>6s} {'AMI':>6s} {'hom':>6s} {'comp':>6s} {'purity':>6s} {'time':>7s}"
    print(head)
    print("-" * len(head))
    for name, vs, s, dt in rows:
        print(
            f"{name:46s} {vs:8s} {s['k']:5d} {s['NMI']:6.3f} {s['AMI']:6.3f} {s['hom']:6.3f} {s['comp']:6.3f} "
            f"{s['purity']:6.3f} {dt:6.1f}s"
        )
    print(
        "\nreproduce: python "
        + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    )


if __name__ == "__main__":
    main()
