"""Peak memory and time of reading a large input, streamed record by record.

    python bench/bench_load.py              # 100,000 four-message conversations (~200 MB) as JSONL,
                                            # as one JSON array, and gzipped
    python bench/bench_load.py --n 500000   # ~1 GB

Each file is read in a fresh process; peak RSS includes the interpreter and Kura's imports.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
from kura.io import LoadReport, iter_conversations
start = time.perf_counter()
count = sum(1 for _ in iter_conversations(sys.argv[1], report=LoadReport()))
print(json.dumps({"count": count, "seconds": time.perf_counter() - start,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def record(i: int) -> dict:
    text = f"Conversation {i}: how do I plan a trip to the mountains with {i % 7} friends on a budget? " * 3
    return {
        "id": f"c{i}",
        "messages": [
            {"role": "user", "content": text},
            {"role": "assistant", "content": "Here is a plan. " + text},
            {"role": "user", "content": "And what should we pack? " + text},
            {"role": "assistant", "content": "Pack layers. " + text},
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="conversations per file")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kura-bench-load-"))
    try:
        jsonl, array = tmp / "big.jsonl", tmp / "big.json"
        with open(jsonl, "w") as f_lines, open(array, "w") as f_array:
            f_array.write("[")
            for i in range(args.n):
                line = json.dumps(record(i))
                f_lines.write(line + "\n")
                f_array.write(("," if i else "") + line)
            f_array.write("]")
        gz = tmp / "big.json.gz"
        with open(array, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
            shutil.copyfileobj(src, dst)
        print(
            f"machine: {platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}"
        )
        for path in (jsonl, array, gz):
            done = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, check=True)
            result = json.loads(done.stdout)
            size = path.stat().st_size / 1e6
            print(
                f"{path.name:<13} {size:8.0f} MB  {result['count']:>9,} conversations  {result['seconds']:6.1f} s  peak RSS {result['peak_rss_mb']:5.0f} MB"
            )
        print("reproduce: python bench/bench_load.py " + " ".join(sys.argv[1:]))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
