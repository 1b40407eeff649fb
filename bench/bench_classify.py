"""Classifying into a saved taxonomy, measured on CLINC150 (the numbers in BENCHMARKS.md).

    python bench/bench_classify.py                      # MiniLM (the default): about 8 minutes on 2 cores
    python bench/bench_classify.py --embedder hashing   # the same steps in about three minutes
    python bench/bench_classify.py --compare --scale 0  # the scores the calibration was chosen against

1. The taxonomy: ``kura.run`` over the 15,000 ``train`` queries (defaults: MiniLM, k = n/10, UMAP).
2. ``kura classify`` of the 4,500 ``test`` queries and the 200 real out-of-scope queries
   (tests/data/clinc150_oos_trainval.jsonl). Accuracy: the assigned cluster's majority training
   intent against the true intent. Out of scope: the share marked unassigned (possibly new);
   in scope: the share wrongly marked so. The same at other ``alpha`` values and for the first
   cut of the threshold (members against centroids that include them), from the same vectors.
3. Time to classify 100,000 conversations: CLINC150's rows repeated with unique ids, into a fresh
   output folder (its own empty item cache). Identical texts are embedded once, so the embedder
   sees the distinct texts only; the script prints how many.

Nothing here is read by the classifier but the data: the labels only score the result.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shlex
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

import kura
from kura.runner.classify import classify
from kura.stages.ward import unit
from kura.store import RunStore, artifacts
from kura.taxonomy import Taxonomy

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def clinc() -> tuple[list[dict], list[dict], list[dict]]:
    with gzip.open(DATA / "clinc150.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    oos = [json.loads(line) for line in (DATA / "clinc150_oos_trainval.jsonl").read_text().splitlines()]
    split = {name: [r for r in rows if r["id"].split("-")[1] == name] for name in ("train", "test")}
    return split["train"], split["test"], oos


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    return path


def first_cut_threshold(taxonomy: Taxonomy, run_dir: Path) -> float:
    """Kura's first threshold: the 5th percentile of members' cosine to their own centroid (self included)."""
    store = RunStore(run_dir)
    summaries = store.read_models(artifacts.SUMMARIES, kura.ConversationSummary)
    vectors = unit(np.asarray(store.read_array(artifacts.VECTORS)))
    row_of = {s.chat_id: i for i, s in enumerate(summaries)}
    own = [vectors[[row_of[i] for i in c.chat_ids]] @ taxonomy.scorer.centroids[k] for k, c in enumerate(taxonomy.base)]
    return float(np.percentile(np.concatenate(own), 5))


def held_out_comparison(taxonomy: Taxonomy, run_dir: Path, classified: Path, test: list[dict], oos: list[dict]) -> None:
    """The scores the method was chosen against, from the same vectors: separation of in-scope
    from out-of-scope (AUROC) and the flagged rates at the 5% point of the run's own scores."""
    from sklearn.metrics import roc_auc_score

    def vectors_of(folder: Path) -> tuple[dict[str, int], np.ndarray]:
        store = RunStore(folder)
        ids = [s.chat_id for s in store.read_models(artifacts.SUMMARIES, kura.ConversationSummary)]
        return {c: i for i, c in enumerate(ids)}, unit(np.asarray(store.read_array(artifacts.VECTORS)))

    row_of, known = vectors_of(run_dir)
    members = [np.array([row_of[i] for i in c.chat_ids]) for c in taxonomy.base]
    rows = np.concatenate(members)
    labels = np.repeat(np.arange(len(members)), [len(m) for m in members])
    train = known[rows]
    new_row, new = vectors_of(classified)
    in_scope, out_scope = new[[new_row[r["id"]] for r in test]], new[[new_row[r["id"]] for r in oos]]
    centroids = taxonomy.scorer.centroids
    sums = np.zeros_like(centroids, dtype=np.float64)
    np.add.at(sums, labels, train)
    sizes = np.bincount(labels)
    loo = unit((sums[labels] - train).astype(np.float32))
    held = train @ centroids.T
    held[np.arange(len(train)), labels] = np.where(sizes[labels] > 1, (train * loo).sum(axis=1), -np.inf)
    top2 = np.sort(held, axis=1)[:, -2:]

    def margin(q: np.ndarray) -> np.ndarray:
        s = np.sort(q @ centroids.T, axis=1)[:, -2:]
        return s[:, 1] - s[:, 0]

    def knn(q: np.ndarray, exclude_self: bool = False, k: int = 10) -> np.ndarray:
        out = []
        for start in range(0, len(q), 4096):
            s = q[start : start + 4096] @ train.T
            if exclude_self:
                s[np.arange(len(s)), np.arange(start, start + len(s))] = -2
            out.append(-np.partition(-s, k - 1, axis=1)[:, :k].mean(axis=1))
        return np.concatenate(out)

    nearest = lambda q: (q @ centroids.T).max(axis=1)  # noqa: E731
    own = (train * centroids[labels]).sum(axis=1)
    candidates = {
        "nearest centroid, members incl. themselves (first cut)": (own, nearest),
        "nearest centroid, held out (the method)": (held.max(axis=1), nearest),
        "margin to second-nearest centroid, held out": (top2[:, 1] - top2[:, 0], margin),
        "mean cosine to 10 nearest members, held out": (knn(train, exclude_self=True), knn),
    }
    print(
        "\n  | score (threshold at the 5% point of the run's own) | AUROC | in-scope flagged | out-of-scope flagged |"
    )
    print("  |---|---|---|---|")
    for name, (reference, score) in candidates.items():
        t = np.percentile(reference[np.isfinite(reference)], 5)
        a, b = score(in_scope), score(out_scope)
        auroc = roc_auc_score(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b])
        print(f"  | {name} | {auroc:.3f} | {np.mean(a < t):.1%} | {np.mean(b < t):.1%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--work", type=Path, default=Path("/tmp/kura-bench-classify"))
    parser.add_argument("--scale", type=int, default=100_000, help="conversations for the timing (0: skip)")
    parser.add_argument("--compare", action="store_true", help="also the scores the method was chosen against")
    args = parser.parse_args()
    command = "python bench/bench_classify.py " + shlex.join(sys.argv[1:])
    work = args.work / args.embedder
    work.mkdir(parents=True, exist_ok=True)
    train, test, oos = clinc()

    start = time.perf_counter()
    taxonomy_run = work / "taxonomy"
    result = kura.run(write_jsonl(work / "train.jsonl", train), taxonomy_run, embedder=args.embedder)
    built = time.perf_counter() - start
    reused = " (reused from an earlier run)" if "embed" in result.reused else ""
    base = len(Taxonomy.load(taxonomy_run).base)
    print(
        f"taxonomy: {len(train):,} train queries -> {base:,} base clusters ({len(result.clusters):,} in the tree) "
        f"in {built:.1f} s{reused}"
    )

    batch = write_jsonl(work / "test_and_oos.jsonl", test + oos)
    out = work / "classified"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    classified = classify(taxonomy_run, [batch], out)
    seconds = time.perf_counter() - start
    taxonomy = classified.taxonomy
    label = {r["id"]: r["label"] for r in train + test + oos}
    intent = {c.id: Counter(label[i] for i in c.chat_ids).most_common(1)[0][0] for c in taxonomy.base}
    by_id = {a.chat_id: a for a in classified.assignments}
    in_scope = [by_id[r["id"]] for r in test]
    out_of_scope = [by_id[r["id"]] for r in oos]
    correct = np.array([intent[a.cluster_id] == label[a.chat_id] for a in in_scope])
    flagged = np.array([a.unassigned for a in in_scope])
    caught = np.array([a.unassigned for a in out_of_scope])
    print(f"\nclassified {len(test):,} test + {len(oos)} out-of-scope queries in {seconds:.1f} s ({args.embedder})")
    print(f"  accuracy (assigned cluster's majority intent = true intent): {correct.mean():.1%}")
    print(f"  accuracy of the in-scope queries not flagged:              {correct[~flagged].mean():.1%}")
    print(f"  out-of-scope marked unassigned (possibly new):             {caught.mean():.1%}")
    print(f"  in-scope wrongly marked unassigned:                        {flagged.mean():.1%}")
    print(f"  threshold (derived, alpha {taxonomy.scorer.alpha}): cosine {taxonomy.threshold:.3f}")

    similarity_in = np.array([a.similarity for a in in_scope])
    similarity_oos = np.array([a.similarity for a in out_of_scope])
    print("\n  | threshold | cosine | in-scope flagged | out-of-scope flagged |")
    print("  |---|---|---|---|")
    for alpha in (0.01, 0.02, 0.05, 0.1):
        t = Taxonomy.load(taxonomy_run, alpha=alpha).threshold
        print(
            f"  | held-out, alpha {alpha} | {t:.3f} | {np.mean(similarity_in < t):.1%} | {np.mean(similarity_oos < t):.1%} |"
        )
    t = first_cut_threshold(taxonomy, taxonomy_run)
    print(
        f"  | first cut (own centroid, 5th pct) | {t:.3f} | {np.mean(similarity_in < t):.1%} | {np.mean(similarity_oos < t):.1%} |"
    )

    if args.compare:
        held_out_comparison(taxonomy, taxonomy_run, out, test, oos)

    if args.scale:
        everything = train + test + oos
        big = [{**everything[n % len(everything)], "id": f"c{n}"} for n in range(args.scale)]
        distinct = len({r["messages"][0]["content"] for r in big})
        path = write_jsonl(work / f"scale{args.scale}.jsonl", big)
        out = work / f"classified{args.scale}"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        scaled = classify(taxonomy_run, [path], out)
        seconds = time.perf_counter() - start
        stages = json.loads((out / "run.json").read_text())["stages"]
        parts = " / ".join(f"{name} {record['seconds']:.1f}" for name, record in stages.items())
        print(
            f"\n{args.scale:,} conversations ({distinct:,} distinct texts, embedded once each) classified in "
            f"{seconds:.1f} s: {parts} s; {scaled.counts['unassigned']:,} possibly new"
        )
    print(f"\ncommand: {command}")


if __name__ == "__main__":
    main()
