"""Incremental runs: a fresh run on 20,000 CLINC150 queries, then the same run directory with
2,000 more, once re-clustering and once keeping the taxonomy (``--keep-taxonomy``).

    python bench/bench_incremental.py                 # MiniLM + UMAP, the defaults
    python bench/bench_incremental.py --n 5000 --more 500 --embedder hashing --projector pca

Prints, for each run, wall time and what run.json says each stage computed and reused. The
target (issue 8): the second run computes exactly the 2,000 new summaries and vectors, and with
the taxonomy kept takes at most 25% of the fresh run's wall time.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLINC = REPO / "tests" / "data" / "clinc150.jsonl.gz"


def write(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def timed_run(inputs: list[Path], out: Path, **settings: object) -> tuple[float, dict]:
    import kura

    start = time.perf_counter()
    kura.run([str(p) for p in inputs], out, **settings)
    seconds = time.perf_counter() - start
    meta = json.loads((out / "run.json").read_text())
    return seconds, meta


def describe(label: str, seconds: float, meta: dict) -> None:
    stages = ", ".join(f"{n} {s['computed']}/{s['reused']}" for n, s in meta["stages"].items())
    print(f"{label:<34} {seconds:7.1f} s   computed/reused: {stages}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--more", type=int, default=2_000)
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--projector", default="umap")
    args = parser.parse_args()
    rows = [json.loads(line) for line in gzip.open(CLINC, "rt", encoding="utf-8")][: args.n + args.more]
    settings = dict(embedder=args.embedder, projector=args.projector)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        old = write(rows[: args.n], folder / "old.jsonl")
        new = write(rows[args.n :], folder / "new.jsonl")
        fresh_s, fresh = timed_run([old], folder / "run", **settings)
        describe(f"fresh, {args.n:,}", fresh_s, fresh)
        shutil.copytree(folder / "run", folder / "run-kept")
        grown_s, grown = timed_run([old, new], folder / "run", **settings)
        describe(f"+{args.more:,}, clustered again", grown_s, grown)
        kept_s, kept = timed_run([old, new], folder / "run-kept", keep_taxonomy=True, **settings)
        describe(f"+{args.more:,}, taxonomy kept", kept_s, kept)
        taxonomy = kept["counts"]["taxonomy_kept"]
        print(
            f"taxonomy kept: {taxonomy['assigned']:,} assigned, {taxonomy['below_threshold']:,} below the "
            f"calibrated threshold {taxonomy['threshold']}; time vs fresh: {kept_s / fresh_s:.0%}"
        )
    print(
        f"reproduce: python bench/bench_incremental.py --n {args.n} --more {args.more} "
        f"--embedder {args.embedder} --projector {args.projector}"
    )


if __name__ == "__main__":
    main()
