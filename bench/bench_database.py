"""Time and size of the run's DuckDB database (kura.duckdb) and of kura export, on real CLINC150 queries.

    python bench/bench_database.py                 # 20,000 conversations (hashing embedder, pca map)
    python bench/bench_database.py --n 5000

The run itself uses the fast components (the database does not care how vectors were made);
the database is then built again three times (beside the run) and the best time is reported.
"""

from __future__ import annotations

import argparse
import gzip
import shlex
import sys
import tempfile
import time
from pathlib import Path

import kura
from kura.store.database import build_database, export_tables
from kura.store.export import sql

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "clinc150.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    print("$ python bench/bench_database.py " + shlex.join(sys.argv[1:]))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = root / "clinc.jsonl"
        with gzip.open(DATA, "rt", encoding="utf-8") as f, open(source, "w", encoding="utf-8") as out:
            for i, line in enumerate(f):
                if i >= args.n:
                    break
                out.write(line)
        start = time.perf_counter()
        kura.run(source, root / "run", embedder="hashing", projector="pca")
        print(f"kura run ({args.n:,} conversations, hashing, pca): {time.perf_counter() - start:.1f} s")
        times = []
        path = root / "rebuilt.duckdb"  # beside the run: the run's own database stays the recorded one
        for _ in range(3):
            path.unlink(missing_ok=True)
            start = time.perf_counter()
            build_database(root / "run", path)
            times.append(time.perf_counter() - start)
        inputs = sum(
            (root / "run" / name).stat().st_size
            for name in ("conversations.jsonl", "summaries.jsonl", "conversations.parquet", "clusters.parquet")
        )
        print(
            f"write kura.duckdb: {min(times):.2f} s (best of 3), {path.stat().st_size / 1e6:.1f} MB "
            f"(its sources: {inputs / 1e6:.1f} MB of JSONL and Parquet)"
        )
        for table in ("conversations", "messages", "summaries", "clusters", "memberships", "positions"):
            print(f"  {table}: {sql(root / 'run', f'select count(*) from {table}')[1][0][0]:,} rows")
        start = time.perf_counter()
        sql(
            root / "run",
            "select c.name, count(*) from memberships m join clusters c on c.id = m.cluster_id where m.level = 0 group by 1",
        )
        print(f"kura sql (digest check + a join over memberships): {time.perf_counter() - start:.2f} s")
        for fmt in ("parquet", "csv", "json"):
            start = time.perf_counter()
            files = export_tables(root / "run", root / fmt, fmt)
            size = sum(p.stat().st_size for p in files)
            print(f"kura export --format {fmt}: {time.perf_counter() - start:.2f} s, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
