"""Time the per-cluster outcome statistics at scale: 100,000 conversations in 10,000 base
clusters and 1,000 parents, one mean and one rate outcome (no effect planted, so the flag count
is the false-flag count).

    PYTHONPATH=. python bench/outcomes_scale.py [--conversations 100000] [--clusters 10000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from kura.analysis.outcomes import OutcomeColumn, cluster_stats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--clusters", type=int, default=10_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    base = rng.integers(0, args.clusters, args.conversations)
    order = np.argsort(base, kind="stable")
    cuts = np.searchsorted(base[order], np.arange(args.clusters + 1))
    members = {f"base-{k}": order[cuts[k] : cuts[k + 1]] for k in range(args.clusters)}
    parents = np.arange(args.clusters) // 10
    for p in range(parents.max() + 1):
        members[f"parent-{p}"] = np.concatenate([members[f"base-{k}"] for k in np.flatnonzero(parents == p)])
    for kind in ("mean", "rate"):
        values = rng.integers(1, 6, args.conversations) if kind == "mean" else rng.random(args.conversations) < 0.8
        column = OutcomeColumn("x", "x", kind, "outcome", values.astype(float))
        start = time.perf_counter()
        stats = cluster_stats(column, members)
        seconds = time.perf_counter() - start
        print(
            f"{kind}: {args.conversations:,} conversations, {len(members):,} clusters: {seconds:.2f} s, "
            f"{stats.tested:,} tested, {len(stats.flagged)} flagged (no effect planted)"
        )


if __name__ == "__main__":
    main()
