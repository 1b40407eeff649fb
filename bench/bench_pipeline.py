"""Time and memory of the offline pipeline, stage by stage, on real data.

    python bench/bench_pipeline.py                         # the bundled 100 OASST conversations
    python bench/bench_pipeline.py --input tests/data/clinc150.jsonl.gz --limit 22500
    python bench/make_scale_data.py /tmp/scale100k.jsonl --n 100000
    python bench/bench_pipeline.py --input /tmp/scale100k.jsonl   # the headline 100,000

At scale, use a file from ``bench/make_scale_data.py`` (real turns recombined, no two openings
alike). ``--scale N`` (repeat the input with "(again)" appended up to N) is kept for quick looks
at how a stage grows, but it flatters every stage: the repeats' vectors nearly coincide (or are
served from the embedding cache), so k-means, neighbour search and UMAP find their work easier
than on real traffic. Do not quote its numbers as Kura's speed.

Each measurement runs in a fresh process (so model loading and UMAP's JIT are counted, as a
user would see them) into a fresh run directory, then once more to time a resumed run.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time
import kura
from kura.io import iter_conversations
from itertools import islice
start = time.perf_counter()
limit, scale = int(sys.argv[3]), int(sys.argv[6])
inputs = list(islice(iter_conversations(sys.argv[1]), limit)) if limit else sys.argv[1]
if scale:  # repeat the input with small wording changes until there are `scale` conversations
    base, inputs = list(iter_conversations(sys.argv[1])), []
    for copy in range(scale // len(base) + 1):
        for c in base[: scale - len(inputs)]:
            last = c.messages[-1].model_copy(update={"content": c.messages[-1].content + " " * copy + ("(again)" * min(copy, 1))})
            inputs.append(c.model_copy(update={"chat_id": f"{c.chat_id}~{copy}", "messages": [*c.messages[:-1], last]}))
result = kura.run(inputs, sys.argv[2], embedder=sys.argv[4], projector=sys.argv[5])
print(json.dumps({"seconds": time.perf_counter() - start, "stages": result.seconds, "reused": result.reused,
                  "conversations": len(result.summaries), "clusters": len(result.clusters),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure(data: str, out: Path, limit: int, embedder: str, projector: str, scale: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, data, str(out), str(limit), embedder, projector, str(scale)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", default=str(REPO / "data" / "oasst_en100.jsonl"))
    parser.add_argument("--limit", type=int, default=0, help="first N conversations (0 = all)")
    parser.add_argument(
        "--scale", type=int, default=0, help="repeat the input up to N conversations (flatters every stage: see above)"
    )
    parser.add_argument("--embedder", default="minilm")
    parser.add_argument("--projector", default="umap")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        first = measure(args.input, out, args.limit, args.embedder, args.projector, args.scale)
        again = measure(args.input, out, args.limit, args.embedder, args.projector, args.scale)
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}"
    )
    print(
        f"input: {args.input} ({first['conversations']:,} conversations), embedder={args.embedder}, projector={args.projector}"
    )
    print(
        f"fresh run:   {first['seconds']:.1f} s, peak RSS {first['peak_rss_mb']:.0f} MB, {first['clusters']} clusters"
    )
    for stage, seconds in first["stages"].items():
        print(f"  {stage:<22} {seconds:7.2f} s")
    print(
        f"resumed run: {again['seconds']:.1f} s (reused: {', '.join(again['reused']) or 'nothing'}), peak RSS {again['peak_rss_mb']:.0f} MB"
    )
    print("reproduce: python bench/bench_pipeline.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
