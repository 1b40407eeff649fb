"""The numbers behind kura diff's thresholds, on planted changes to real CLINC150 runs.

    python bench/diff_thresholds.py                  # MiniLM (the default embedder), ~40 s
    python bench/diff_thresholds.py --embedder hashing

Builds run A (25 intents x 30 queries) and two runs B with planted changes (tests/diff_planted.py):
one sharing A's ids, one with other queries of the same intents. Prints, for content matching,
each cluster's similarity to its nearest other cluster of its own run (what the threshold is
calibrated on) next to the best cross-run similarity of clusters of the same intent and of
different intents; and for both runs B, each planted intent's status.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from diff_planted import PER_INTENT, planted, reported, write_jsonl  # noqa: E402

import kura  # noqa: E402
from kura.analysis import diff as D  # noqa: E402


def majority(group: D.Group, label: dict[str, str]) -> str:
    return Counter(label[i] for i in group.chat_ids).most_common(1)[0][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--embedder", default="minilm")
    args = parser.parse_args()
    print("$ python bench/diff_thresholds.py " + shlex.join(sys.argv[1:]))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for shared in (False, True):
            rows_a, rows_b, roles = planted(shared)
            label = {r["id"]: r["label"] for r in rows_a + rows_b}
            settings = dict(embedder=args.embedder, projector="pca", clusters_per_group=PER_INTENT, progress=False)
            start = time.perf_counter()
            kura.run(write_jsonl(rows_a, root / "a.jsonl"), root / "a", **settings)
            name = "b-ids" if shared else "b-content"
            kura.run(write_jsonl(rows_b, root / f"{name}.jsonl"), root / name, **settings)
            a, b = D.load_clusters(root / "a"), D.load_clusters(root / name)
            print(
                f"\n== run B {'shares A ids' if shared else 'has other queries (no shared ids)'}"
                f" ({time.perf_counter() - start:.1f} s for both runs)"
            )
            if not shared:
                nearest = []
                for run in (a, b):
                    within, _ = D._content_similarity(run, run)
                    np.fill_diagonal(within, -np.inf)
                    nearest.extend(within.max(axis=1))
                score, _ = D._content_similarity(a, b)
                same, different = [], []
                for j, g in enumerate(b.groups):
                    i = int(score[:, j].argmax())
                    (same if majority(a.groups[i], label) == majority(g, label) else different).append(score[i, j])
                pct = lambda v: " ".join(f"p{q}={np.percentile(v, q):.3f}" for q in (10, 25, 50, 75, 90))  # noqa: E731
                print(f"within-run nearest other cluster: {pct(nearest)}")
                print(f"cross-run best match, same intent  (n={len(same)}): min={min(same):.3f} {pct(same)}")
                if different:
                    print(
                        f"cross-run best match, other intent (n={len(different)}): {sorted(round(float(x), 3) for x in different)}"
                    )
            result = D.diff_clusters(a, b)
            print(f"method {result.method}, thresholds {result.thresholds}")
            print(f"statuses {result.counts()}")
            statuses = reported(result, a, b, label)
            for planted_status, intent in roles.items():
                print(f"  planted {planted_status:8} ({intent}): reported {statuses.get(intent)}")
            untouched = Counter(s for intent, found in statuses.items() if intent not in roles.values() for s in found)
            print(f"  untouched intents: {dict(untouched)}")


if __name__ == "__main__":
    main()
