"""How long trends take at 100,000 conversations: `kura trends` in-process, the explorer's time view call.

    python bench/bench_trends.py                   # builds /tmp/kura-bench-100k once (bench_explorer's run)
    python bench/bench_trends.py --n 20000 --out /tmp/kura-bench-20k

The run is bench_explorer.py's: real CLINC150 queries replicated to ``--n``, creation times
uniform over 90 days, a three-level tree (10 domains > 150 intents > base clusters of about 50).
Each timing is the best of five after one warm-up (imports done), except "first call", which
includes reading the Parquet files cold from the page cache.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def best_ms(fn: Callable[[], Any], repeat: int = 5) -> float:
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="conversations in the run")
    parser.add_argument("--out", type=Path, default=Path("/tmp/kura-bench-100k"), help="the run (built once)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from bench_explorer import build_run, machine

    from kura.analysis.trends import trends
    from kura.server.rundata import RunData
    from kura.server.trends import trends_payload

    print(f"machine: {machine()}")
    if not (args.out / "clusters.parquet").exists():
        print(f"built {args.out} ({args.n:,} conversations) in {build_run(args.out, args.n):.1f} s")
    start = time.perf_counter()
    report = trends(args.out)
    first = (time.perf_counter() - start) * 1000
    print(
        f"run: {args.out} ({report.conversations:,} conversations, {len(report.clusters):,} base clusters, "
        f"{len(report.periods)} weeks)"
    )
    print(f"\n{'what':64} {'ms':>8}")
    print(f"{'kura.analysis.trends.trends(run), base level, by week, first call':64} {first:8.1f}")
    for label, kwargs in [
        ("trends(run), base level, by week (reads both Parquet files)", {}),
        ("trends(run), top level, by week", {"level": 0}),
        ("trends(run), base level, by day", {"by": "day"}),
        ("trends(run), base level, by month", {"by": "month"}),
    ]:
        print(f"{label:64} {best_ms(lambda: trends(args.out, **kwargs)):8.1f}")  # noqa: B023
    data = RunData.load(args.out.name, args.out)
    mask = np.random.default_rng(0).random(data.size) < 0.5
    selected = data.clusters["id"][-1]
    print(
        f"{'time view call: base level, half the rows masked, a cluster selected':64} "
        f"{best_ms(lambda: trends_payload(data, by='week', level=None, cluster=selected, mask=mask)):8.1f}"
    )
    print(
        f"{'time view call: top level, no mask, a base cluster selected':64} "
        f"{best_ms(lambda: trends_payload(data, by='week', level=0, cluster=selected, mask=None)):8.1f}"
    )
    print(f"\nrising {len(report.rising)}, falling {len(report.falling)} (uniform times: expect none or nearly none)")


if __name__ == "__main__":
    main()
