"""Names and the scorecard on CLINC150 (offline), and how long naming takes at scale.

    python bench/bench_names.py                          # the 3,000-query slice: run + scorecard, ~1 min
    python bench/bench_names.py --n-per-intent 0         # all 22,500 queries, ~5 min (mostly embedding)
    python bench/bench_names.py --speed /tmp/scale100k.jsonl   # naming 100,000 conversations (~14k clusters)
    python bench/bench_names.py --local-levels 60 --regroup    # the local model names levels of <= 60 clusters

With ``--local-levels N`` every level of at most N clusters is named by the local model
(``BudgetedNamer``, no time limit; the offline run's summaries and vectors are reused from a copy).
``--regroup`` then asks whether the words could give a better top level, as Clio clusters its
clusters' names: the clusters of the level under the top are grouped again by Ward into as many
groups as the top has, from their centroids, from their embedded names and descriptions, and
from a mix, and each grouping is scored against the domains (NMI over the queries). "Oracle
names" (each cluster named by its majority intent, e.g. "credit limit change") bound what any
namer could add this way. ``--llm-regroup`` adds Clio's own way with the local model: it proposes
as many categories as the top level has from the names, then assigns each cluster to one.

The first form writes the queries and a labels file (id, intent, domain) under ``--work``, runs
the whole offline pipeline (MiniLM, PCA map, 10 top clusters) into a run directory there
(resumed if it exists: only stages whose settings changed run again) and prints the scorecard
of ``kura eval`` against the 150 intents and the 10 domains, then the top of the tree.

``--speed`` times the namer alone on real-derived data (``bench/make_scale_data.py`` writes
it): base clusters from hashing vectors (each conversation to the nearest of n / 10 seed
conversations), then the base
names and the hierarchy's names, once with the hashing embedder (the phrases and centroids in
one space, as in a ``--embedder hashing`` run) and once with MiniLM embedding the phrases (the
default's cost; its centroids are still hashing vectors, so only the time means anything).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import shlex
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))


def write_slice(n_per_intent: int, work: Path) -> tuple[Path, Path]:
    """CLINC150 queries (``n_per_intent`` of each intent, 0 = all) and their labels, under ``work``."""
    from kura_testdata import clinc_lines, clinc_slice, shared

    domain_of = {i: d for d, ints in json.loads(shared("clinc150_domains.json").read_text()).items() for i in ints}
    rows = clinc_slice(n_per_intent) if n_per_intent else [json.loads(line) for line in clinc_lines()]
    tag = f"clinc{len(rows)}"
    data, labels = work / f"{tag}.jsonl", work / f"{tag}_labels.csv"
    work.mkdir(parents=True, exist_ok=True)
    with open(data, "w") as f, open(labels, "w") as g:
        g.write("id,intent,domain\n")
        for r in rows:
            f.write(json.dumps({"id": r["id"], "messages": r["messages"]}) + "\n")
            g.write(f"{r['id']},{r['label']},{domain_of[r['label']]}\n")
    return data, labels


def scorecard_bench(args: argparse.Namespace) -> None:
    import kura
    from kura.analysis.scorecard import scorecard
    from kura.types.tree import ClusterTree

    data, labels = write_slice(args.n_per_intent, args.work)
    out = args.work / f"run-{data.stem}"
    namer = None
    if args.local_levels:
        namer = local_level_namer(args.local_levels)
        if not (out / "run.json").exists():
            kura.run([str(data)], out, top_clusters=args.top, projector="pca", seed=args.seed)
        local = args.work / f"run-{data.stem}-local{args.local_levels}"
        if not local.exists():  # the offline run's summaries and vectors; names and the tree are redone
            shutil.copytree(out, local)
        out = local
    t0 = time.perf_counter()
    result = kura.run([str(data)], out, top_clusters=args.top, projector="pca", seed=args.seed, namer=namer)
    wall = time.perf_counter() - t0
    card = scorecard(out, labels)
    print(f"CLINC150 {data.stem}: {card.matched:,} queries, run {wall:.1f} s (resumed stages are not re-timed)")
    for stage, record in result.stages.items():
        print(f"  {stage:10s} {record.seconds:7.1f} s {'(reused)' if stage in result.reused else ''}")
    for column, rows in card.scores.items():
        print(f"\nagainst {column} ({rows[0].labels} labels, name score by chance {rows[0].chance:.3f})")
        print(
            f"{'level':8s} {'k':>5s} {'NMI':>6s} {'AMI':>6s} {'ARI':>6s} {'hom':>6s} {'comp':>6s} {'purity':>6s} {'name':>6s} {'right':>6s}"
        )
        for s in rows:
            print(
                f"{f'{s.level} {s.role}':8s} {s.clusters:5d} {s.nmi:6.3f} {s.ami:6.3f} {s.ari:6.3f} {s.homogeneity:6.3f} "
                f"{s.completeness:6.3f} {s.purity:6.3f} {s.name_score:6.3f} {s.names_right:6.3f}"
            )
        chosen = card.name_level(column)
        if chosen is not None:
            print(
                f"name score at the coarsest level with >= {chosen.labels} clusters: {chosen.name_score:.3f} "
                f"(ceiling: purity {chosen.purity:.3f}); names right {chosen.names_right:.3f}"
            )
    tree = ClusterTree(result.clusters)
    print("\ntop of the tree:")
    for root in tree.roots:
        kids = ", ".join(repr(c.name) for c in tree.children(root.id)[:4])
        print(f"  {root.name!r} ({root.count}): {kids}")
    by = Counter(c.named_by for c in result.clusters)
    print("named by: " + ", ".join(f"{k} {v}" for k, v in by.most_common()))
    if args.regroup:
        regroup(out, labels, "domain", llm_assign=args.llm_regroup)


async def propose_and_assign(names: list[str], k: int) -> tuple[list[str], np.ndarray]:
    """Clio's higher level with the local model: it proposes ``k`` categories from the cluster
    names (one request), then puts each cluster in one of them (one request each, the answer
    constrained to the categories)."""
    from typing import Literal

    from pydantic import Field, create_model

    from kura.llm import get_llm

    llm = get_llm("local")
    listing = "\n".join(f"- {n}" for n in names)
    proposal_model = create_model("Categories", categories=(list[str], Field(min_length=k, max_length=k)))
    system = "You organise the requests users send to an AI assistant into broad categories."
    proposed = await llm.generate(
        [
            {"role": "system", "content": system},
            {
                "role": "user",
                "content": f"<groups>\n{listing}\n</groups>\n\nPropose exactly {k} broad categories, each two to four "
                f"words, that together cover all of these groups of requests.",
            },
        ],
        proposal_model,
        stage="regroup",
        temperature=0.0,
        max_tokens=24 * k + 16,
    )
    categories = list(dict.fromkeys(proposed.categories))  # type: ignore[attr-defined]
    choice_model = create_model("Choice", category=(Literal[tuple(categories)], ...))  # type: ignore[valid-type]
    assigned = []
    for name in names:
        answer = await llm.generate(
            [
                {"role": "system", "content": system + " Categories:\n" + "\n".join(f"- {c}" for c in categories)},
                {"role": "user", "content": f"Which category does this group of requests belong to?\n{name}"},
            ],
            choice_model,
            stage="regroup",
            temperature=0.0,
            max_tokens=32,
        )
        assigned.append(categories.index(answer.category))  # type: ignore[attr-defined]
    return categories, np.array(assigned)


def local_level_namer(max_groups: int):  # noqa: ANN201
    from kura.embedders import get_embedder
    from kura.llm.local_names import BudgetedNamer
    from kura.stages.naming import DistinctiveTermsNamer

    offline = DistinctiveTermsNamer(embedder=get_embedder("minilm"))  # as the offline run's namer
    return BudgetedNamer("local", offline=offline, budget_seconds=1e9, max_groups=max_groups)


def regroup(run: Path, labels: Path, column: str, llm_assign: bool = False) -> None:
    """Group the clusters under the top level again by Ward, from centroids, words or both (NMI vs ``column``)."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import normalized_mutual_info_score

    from kura.analysis.scorecard import label_text, read_labels, run_levels
    from kura.embedders import get_embedder, normalise
    from kura.stages.ward import ward_levels
    from kura.store import RunStore, artifacts
    from kura.types import ConversationSummary

    levels = run_levels(run)
    top, below = levels[0], levels[1]
    label_of = read_labels(labels).columns
    store = RunStore(run)
    ids = [s.chat_id for s in store.read_models(artifacts.SUMMARIES, ConversationSummary)]
    vectors = dict(zip(ids, np.load(run / "vectors.npy")))
    centroids = normalise(np.vstack([np.mean([vectors[i] for i in c.chat_ids], axis=0) for c in below]))
    model = get_embedder("minilm")
    names = normalise(np.asarray(model.encode([f"{c.name}. {c.description}" for c in below])))
    oracle = normalise(
        np.asarray(
            model.encode(
                [label_text(Counter(label_of["intent"][i] for i in c.chat_ids).most_common(1)[0][0]) for c in below]
            )
        )
    )
    truth = [label_of[column][i] for c in below for i in c.chat_ids]
    sizes = np.array([len(c.chat_ids) for c in below], dtype=np.float64)

    def nmi(assigned: np.ndarray) -> float:
        return float(
            normalized_mutual_info_score(truth, [assigned[k] for k, c in enumerate(below) for _ in c.chat_ids])
        )

    if llm_assign:
        started = time.perf_counter()
        categories, assigned = asyncio.run(propose_and_assign([c.name for c in below], len(top)))
        print(f"\nClio's way with the local model ({time.perf_counter() - started:.0f} s): categories {categories}")
        print(f"  the {len(below)} clusters assigned to them by the model: NMI {nmi(assigned):.3f}")
    actual = {i: k for k, c in enumerate(top) for i in c.chat_ids}
    print(f"\nregroup: the {len(below)} clusters under the top level into {len(top)} groups, NMI against {column}s")
    print(f"  the run's own top level                  {nmi(np.array([actual[c.chat_ids[0]] for c in below])):.3f}")
    for label, words in (("names + descriptions", names), ("oracle names", oracle)):
        for w in (0.0, 0.25, 0.5, 1.0):
            mixed = np.hstack([np.sqrt(1 - w) * centroids, np.sqrt(w) * words])
            plain = AgglomerativeClustering(n_clusters=len(top)).fit_predict(mixed)
            weighted = ward_levels(mixed, sizes, [len(top)])[0]
            print(f"  {label:22s} weight {w:4.2f}   Ward {nmi(plain):.3f}   Kura's Ward {nmi(weighted):.3f}")


def speed_bench(args: argparse.Namespace) -> None:
    from kura.embedders import HashingEmbedder, MiniLMEmbedder, normalise
    from kura.stages.cluster import groups_from_labels
    from kura.stages.hierarchy import EmbeddingHierarchy, LevelInput
    from kura.stages.naming import DistinctiveTermsNamer, cluster_id
    from kura.stages.ward import nearest
    from kura.types import Cluster

    texts = []
    with open(args.speed, encoding="utf-8") as f:
        for line in f:
            texts.append(json.loads(line)["messages"][0]["content"][:500])
            if len(texts) >= args.n:
                break
    n = len(texts)
    hashing = HashingEmbedder()
    t0 = time.perf_counter()
    X = hashing.encode(texts)
    k = math.ceil(n / 10)
    # Every conversation to the nearest of k seed conversations: topical groups in one pass (a
    # full k-means at k = 10,000 takes far longer, and only the namer is timed here).
    seeds = X[np.random.default_rng(0).choice(n, size=k, replace=False)]
    labels = np.unique(nearest(X, seeds), return_inverse=True)[1]
    print(
        f"{n:,} conversations, {labels.max() + 1:,} base clusters "
        f"(hashing vectors, nearest of {k:,} seeds: {time.perf_counter() - t0:.1f} s)",
        flush=True,
    )
    ids = [str(i) for i in range(n)]
    groups = groups_from_labels(labels, X, ids, texts)
    for label, embedder in (("hashing", hashing), ("minilm", MiniLMEmbedder())):
        if label == "minilm":
            embedder.encode(["warm up"])  # model loading is not naming
            # Centroids of MiniLM's width; random, so only the time of this pass means anything.
            rng = np.random.default_rng(0)
            for g in groups:
                g.centroid = normalise(rng.normal(size=(1, 384)))[0]
        namer = DistinctiveTermsNamer(embedder=embedder)
        t = time.perf_counter()
        named = namer.name_groups_sync(groups)
        base_s = time.perf_counter() - t
        base = [
            Cluster(id=cluster_id(0, g.chat_ids), name=m.name, description=m.summary, slug=m.slug, chat_ids=g.chat_ids)
            for g, m in zip(groups, named)
        ]
        level = LevelInput(
            clusters=base, vectors=np.vstack([g.centroid for g in groups]), texts=[g.texts for g in groups]
        )
        naming = [0.0]
        name_groups = namer.name_groups_sync

        def timed(groups: list, _inner=name_groups, _total=naming) -> list:
            t = time.perf_counter()
            out = _inner(groups)
            _total[0] += time.perf_counter() - t
            return out

        namer.name_groups_sync = timed  # type: ignore[method-assign]  # time the parents' names apart from Ward
        t = time.perf_counter()
        tree = asyncio.run(EmbeddingHierarchy(top_clusters=10, namer=namer).build(level))
        tree_s = time.perf_counter() - t
        print(
            f"phrases embedded with {label:7s}: base names {base_s:6.1f} s; hierarchy {tree_s:6.1f} s, of which "
            f"names of its {len(tree) - len(base):,} parents {naming[0]:6.1f} s; {len(tree):,} clusters in all",
            flush=True,
        )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-per-intent", type=int, default=20, help="queries per intent (0 = all 22,500)")
    ap.add_argument("--top", type=int, default=10, help="top-level clusters")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/kura_bench_names"), help="data and run directories")
    ap.add_argument("--speed", type=Path, help="time naming on this JSONL (bench/make_scale_data.py) instead")
    ap.add_argument("--n", type=int, default=100_000, help="conversations to read for --speed")
    ap.add_argument("--local-levels", type=int, default=0, help="the local model names levels of at most N clusters")
    ap.add_argument("--regroup", action="store_true", help="measure regrouping the top level from names")
    ap.add_argument(
        "--llm-regroup", action="store_true", help="with --regroup: also the local model proposing and assigning"
    )
    args = ap.parse_args(argv)
    if args.speed:
        speed_bench(args)
    else:
        scorecard_bench(args)
    print(
        "\nreproduce: python "
        + " ".join(shlex.quote(a) for a in [sys.argv[0], *(argv if argv is not None else sys.argv[1:])])
    )


if __name__ == "__main__":
    main()
