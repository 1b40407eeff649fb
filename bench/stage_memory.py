"""Peak memory of each stage of the offline pipeline, sampled while it runs.

    python bench/make_scale_data.py /tmp/scale100k.jsonl --n 100000
    python bench/stage_memory.py --input /tmp/scale100k.jsonl                  # MiniLM, as a user runs it
    python bench/stage_memory.py --input /tmp/scale100k.jsonl --embedder hashing:384

One fresh process runs ``kura.run`` with the defaults into a fresh run directory; a thread reads
the process's resident memory (``VmRSS`` in ``/proc/self/status``) every 20 ms and files each
reading under the stage whose progress bar is open, so each stage's peak is its own (the
process's lifetime peak, ``ru_maxrss``, is printed too). ``hashing:384`` swaps MiniLM for the
hashing embedder at MiniLM's width: every stage after ``embed`` sees arrays of the same shape and
type, and the run takes minutes instead of the half hour MiniLM needs for 100,000 texts on 2
cores (the embed stage's own peak then lacks MiniLM's model and its batches).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

CHILD = """
import json, resource, sys, threading, time
from contextlib import contextmanager
import kura
from kura.progress import Reporter

current, peaks, stop = ["start-up"], {}, threading.Event()

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS")) / 1024

def sample():
    while not stop.wait(0.02):
        peaks[current[0]] = max(peaks.get(current[0], 0.0), rss_mb())

class Labelled(Reporter):
    @contextmanager
    def stage(self, label, total=None):
        current[0] = label
        with super().stage(label, total) as bar:
            yield bar
        current[0] = "after " + label

embedder = sys.argv[3]
if embedder.startswith("hashing:"):
    from kura.embedders import HashingEmbedder
    embedder = HashingEmbedder(dim=int(embedder.split(":")[1]))
threading.Thread(target=sample, daemon=True).start()
start = time.perf_counter()
result = kura.run(sys.argv[1], sys.argv[2], embedder=embedder, reporter=Labelled(enabled=False))
stop.set()
print(json.dumps({"seconds": time.perf_counter() - start, "stages": result.seconds, "peaks_mb": peaks,
                  "conversations": len(result.summaries), "clusters": len(result.clusters),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", required=True)
    parser.add_argument("--embedder", default="minilm", help="minilm (default) or hashing:DIM")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, args.input, f"{tmp}/run", args.embedder], capture_output=True, text=True
        )
    if done.returncode:
        sys.exit(f"kura run failed:\n{done.stderr[-3000:]}")
    got = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; load average {load:.1f} at start")
    print(f"{got['conversations']:,} conversations, {got['clusters']:,} clusters, {got['seconds']:.0f} s")
    print(f"{'stage':<22} {'seconds':>8} {'peak RSS MB':>12}")
    for label, peak in got["peaks_mb"].items():
        print(f"{label:<22} {got['stages'].get(label, 0.0):>8.1f} {peak:>12,.0f}")
    print(f"process peak (ru_maxrss): {got['peak_rss_mb']:,.0f} MB")
    print(f"reproduce: python bench/stage_memory.py --input {args.input} --embedder {args.embedder}")


if __name__ == "__main__":
    main()
