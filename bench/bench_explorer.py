"""How the explorer holds up at 100,000 conversations and more: API times, first map in Chromium, memory.

    python bench/bench_explorer.py                 # builds /tmp/kura-bench-100k once, then measures
    python bench/bench_explorer.py --n 20000 --out /tmp/kura-bench-20k --json numbers.json
    python bench/bench_explorer.py --n 1000000 --out /tmp/kura-bench-1m --no-report

The run is assembled directly in Kura's run-directory format (through kura.store's own writers)
from real CLINC150 queries, replicated with small wording changes up to ``--n``, with a three
level tree (10 domains > 150 intents > base clusters of about 50), map positions grouped the
same way, and every facet filled in as a language-model run would (so the payloads are the
largest kind). Conversations are made one at a time as they are written, so building takes
about 20 s and 0.45 GB for 100,000 and 2.3 minutes and 2.2 GB for a million; the pipeline itself
is measured by the pipeline's own benchmarks. Then:

- the server runs as its own process (`kura serve`), so its memory is its own;
- loading what the map needs, and then each thing made in the background (fields, the whole
  table, the row index, the line index of conversations.jsonl, the search index), is timed
  in-process;
- each API call is timed on its first request after start and warm (the server preloads the
  newest run as it starts, so the first request waits only for what is left of that);
- headless Chromium (Debian's, networking off) loads the page: "first map" is the time from
  navigation start to the first frame with every dot drawn, cold and warm, and "page ready"
  when the fields, tree and panels are there too (polled, so a frame or so late); interactions are
  timed from the action to the next painted frame; the JS heap is read over CDP;
- the static report of the same run is written and opened from disk, timed the same way.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

import numpy as np

REPO = Path(__file__).resolve().parents[1]
CLINC = REPO / "tests" / "data" / "clinc150.jsonl.gz"  # the real queries, kept in the repository
DOMAINS = REPO / "tests" / "data" / "clinc150_domains.json"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]

PREFIXES = ["", "hey, ", "quick question: ", "please ", "can you help: ", "hi! "]
SUFFIXES = ["", " thanks", " please", " asap", "?", " :)"]
ERRORS = ["misread the request", "gave outdated information", "ignored a constraint", "made an arithmetic error"]
CHANNELS = ["web", "ios", "android", "api"]
T = TypeVar("T")


# -- building the run ----------------------------------------------------------------------------------
class _Rows(Sequence[T]):
    """Row ``k`` made on demand by ``make(k)``: a million conversations are written one at a time
    through kura.store's writers instead of being held as a million pydantic objects (10 GB)."""

    def __init__(self, n: int, make: Callable[[int], T]):
        self.n, self.make = n, make

    def __len__(self) -> int:
        return self.n

    @overload
    def __getitem__(self, k: int) -> T: ...
    @overload
    def __getitem__(self, k: slice) -> list[T]: ...
    def __getitem__(self, k: int | slice) -> T | list[T]:
        if isinstance(k, slice):
            return [self.make(i) for i in range(*k.indices(self.n))]
        if not -self.n <= k < self.n:
            raise IndexError(k)
        return self.make(k % self.n)


def build_run(out: Path, n: int, seed: int = 0) -> float:
    """Write an n-conversation run directory to ``out``; returns the seconds it took.

    Every random choice is drawn up front as one small array per column, so row ``k`` can be
    made (and made again) on its own: memory grows with the tree and the positions (a few
    hundred bytes a conversation), not with the text."""
    from datetime import datetime, timedelta, timezone

    from kura.stages.naming import cluster_id
    from kura.stages.project import place_clusters
    from kura.store import RunStore
    from kura.store.export import write_parquet_exports
    from kura.types import Cluster, Conversation, ConversationSummary, Message
    from kura.types.tree import ClusterTree

    start = time.perf_counter()
    nrng = np.random.default_rng(seed)
    rows = [json.loads(line) for line in gzip.open(CLINC, "rt", encoding="utf-8")]
    domain_of = {i: d for d, intents in json.loads(DOMAINS.read_text()).items() for i in intents}
    domains = sorted(set(domain_of.values()))
    intents = sorted({r["label"] for r in rows})
    # Map layout: domains on a circle, intents around their domain, bases around their intent.
    domain_xy = {
        d: np.array([math.cos(2 * math.pi * k / len(domains)), math.sin(2 * math.pi * k / len(domains))]) * 10
        for k, d in enumerate(domains)
    }
    intent_xy = {i: domain_xy[domain_of[i]] + nrng.normal(0, 2.2, 2) for i in intents}

    # One draw per conversation and column; the first pass over CLINC keeps its wording.
    source = np.arange(n) % len(rows)
    prefix = np.where(np.arange(n) < len(rows), 0, nrng.integers(1, len(PREFIXES), n))
    suffix = np.where(np.arange(n) < len(rows), -1, nrng.integers(0, len(SUFFIXES), n))
    minute = nrng.integers(0, 90 * 24 * 60, n)
    turns = nrng.choice([1, 2, 2, 4, 4, 6, 8], n)
    channel = nrng.integers(0, len(CHANNELS), n)
    error = np.where(nrng.random(n) < 0.12, nrng.integers(0, len(ERRORS), n), -1)
    spanish = nrng.random(n) >= 0.95
    concerning = nrng.choice([1, 1, 1, 1, 2, 3], n)
    frustration = nrng.choice([1, 1, 2, 2, 3, 4, 5], n)
    chat_ids = [f"c{k:06d}" for k in range(n)]
    epoch = datetime(2026, 8, 1, tzinfo=timezone.utc)

    def text(k: int) -> str:
        query = rows[source[k]]["messages"][0]["content"]
        return query if suffix[k] < 0 else PREFIXES[prefix[k]] + query + SUFFIXES[suffix[k]]

    def meta(k: int) -> dict[str, Any]:
        label = rows[source[k]]["label"]
        return {
            "label": label,
            "domain": domain_of[label],
            "channel": CHANNELS[channel[k]],
            "source_file": "clinc150.jsonl",
        }

    def conversation(k: int) -> Conversation:
        label = rows[source[k]]["label"].replace("_", " ")
        messages = [
            Message(
                role="user" if t % 2 == 0 else "assistant", content=text(k) if t == 0 else f"(reply {t} about {label})"
            )
            for t in range(int(turns[k]))
        ]
        created = epoch + timedelta(minutes=int(minute[k]))
        return Conversation(chat_id=chat_ids[k], created_at=created, messages=messages, metadata=meta(k))

    def summary(k: int) -> ConversationSummary:
        label = rows[source[k]]["label"]
        return ConversationSummary(
            chat_id=chat_ids[k],
            summary=text(k),
            request=text(k),
            topic=domain_of[label].replace("_", " "),
            task=label.replace("_", " "),
            languages=["english", "spanish"] if spanish[k] else ["english"],
            concerning_score=int(concerning[k]),
            user_frustration=int(frustration[k]),
            assistant_errors=[ERRORS[error[k]]] if error[k] >= 0 else [],
            metadata={**meta(k), "conversation_turns": int(turns[k])},
        )

    # The tree: base clusters of about 50 conversations inside each intent, intents, domains.
    members: dict[str, list[int]] = {}
    for k in range(n):
        members.setdefault(rows[source[k]]["label"], []).append(k)
    base, middle, top, points = [], [], [], np.zeros((n, 2), dtype=np.float32)
    for d in domains:
        d_ids: list[str] = []
        d_children = []
        for label in [i for i in intents if domain_of[i] == d]:
            rows_in = members.get(label, [])
            groups = [rows_in[g : g + 50] for g in range(0, len(rows_in), 50)]
            i_children = []
            for g in groups:
                centre = intent_xy[label] + nrng.normal(0, 0.45, 2)
                points[g] = centre + nrng.normal(0, 0.12, (len(g), 2))
                ids = [chat_ids[r] for r in g]
                name = f"{label.replace('_', ' ').capitalize()}: {text(g[0])[:40]}"
                i_children.append(
                    Cluster(
                        id=cluster_id(2, ids),
                        name=name,
                        description=f"Requests like “{text(g[0])}”.",
                        slug=label,
                        chat_ids=ids,
                    )
                )
            ids = [i for c in i_children for i in c.chat_ids]
            parent = Cluster(
                id=cluster_id(1, ids),
                name=label.replace("_", " ").capitalize(),
                description=f"Users asking about {label.replace('_', ' ')}.",
                slug=label,
                chat_ids=ids,
            )
            for c in i_children:
                c.parent_id = parent.id
            base += i_children
            d_children.append(parent)
            d_ids += ids
        root = Cluster(
            id=cluster_id(0, d_ids),
            name=d.replace("_", " ").capitalize(),
            description=f"Everything about {d.replace('_', ' ')}.",
            slug=d,
            chat_ids=d_ids,
        )
        for c in d_children:
            c.parent_id = root.id
        middle += d_children
        top.append(root)
    tree = top + middle + base

    store = RunStore(out, write=True)
    store.write_models("conversations.jsonl", _Rows(n, conversation))
    store.write_models("summaries.jsonl", _Rows(n, summary), exclude={"embedding"})
    store.write_models("clusters.jsonl", base)
    store.write_models("meta_clusters.jsonl", tree)
    store.write_array("points.npy", points)
    chat_index = {c: k for k, c in enumerate(chat_ids)}
    projected = place_clusters(ClusterTree(tree), points.astype(np.float64), chat_index)
    store.write_models("dimensionality.jsonl", projected)
    write_parquet_exports(store, _Rows(n, summary), projected, points)
    store.write_failures([])
    store.meta = store.meta.model_copy(  # RunMeta is a pydantic model, not a dict
        update=dict(
            mode="language model (synthetic facets for the explorer benchmark)",
            settings={"built_by": "bench/bench_explorer.py", "seed": seed},
            inputs=[{"name": "clinc150.jsonl", "format": "synthetic", "loaded": n, "skipped": 0}],
            counts=dict(
                conversations_loaded=n,
                records_skipped=0,
                summarised=n,
                failed=0,
                base_clusters=len(base),
                clusters=len(tree),
                top_clusters=len(top),
            ),
        )
    )
    store.save_meta()
    store.close()
    return time.perf_counter() - start


# -- measuring ------------------------------------------------------------------------------------------
def rss_mb(pid: int) -> tuple[float, float]:
    """Resident memory now and at its peak, in MB, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    now = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
    peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024
    return now, peak


class Server:
    """`kura serve` as a child process on a free port."""

    def __init__(self, root: Path):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kura.cli", "serve", str(root), "--port", "0"],
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            cwd=REPO,
        )
        deadline = time.monotonic() + 60
        self.url = ""
        while not self.url and time.monotonic() < deadline:
            line = self.process.stderr.readline()
            found = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
            if found:
                self.url = found.group(1)
            elif self.process.poll() is not None:
                raise RuntimeError(f"kura serve exited: {line}")
        if not self.url:
            raise RuntimeError("kura serve did not print its URL within 60 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:  # a request still computing (outcomes of a million) holds it up
            self.process.kill()
            self.process.wait()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return (time.perf_counter() - start) * 1000, value


def measure_api(url: str, run: str, n: int) -> list[tuple[str, float, int]]:
    import httpx

    out = []
    with httpx.Client(base_url=url, timeout=120) as c:

        def call(label: str, path: str, **params: Any) -> Any:
            ms, response = timed(lambda: c.get(path, params=params))
            response.raise_for_status()
            out.append((label, ms, len(response.content)))
            return response

        call("GET /api/runs", "api/runs")
        call(f"GET /api/runs/{run}  (first: waits for the start-up preload)", f"api/runs/{run}")
        call(f"GET /api/runs/{run}  (warm)", f"api/runs/{run}")
        call("GET .../points  (the map: positions, base clusters)", f"api/runs/{run}/points")
        call("GET .../points  (warm)", f"api/runs/{run}/points")
        call("GET .../columns  (first: waits for the fields)", f"api/runs/{run}/columns")
        call("GET .../columns  (warm)", f"api/runs/{run}/columns")
        call("GET .../outcomes  (first: computes them)", f"api/runs/{run}/outcomes")
        rows = ",".join(str(r) for r in random.Random(1).sample(range(n), 50))
        call("GET .../summaries?rows=<50 rows>", f"api/runs/{run}/summaries", rows=rows)
        call(
            "GET .../summaries?offset=50000&limit=50", f"api/runs/{run}/summaries", offset=min(50_000, n - 50), limit=50
        )
        chat_id = c.get(f"api/runs/{run}/summaries", params={"offset": n // 2, "limit": 1}).json()["rows"][0]["chat_id"]
        call("GET .../conversation?id=", f"api/runs/{run}/conversation", id=chat_id)
        call("GET .../search?q=balance  (first: builds index)", f"api/runs/{run}/search", q="balance")
        call('GET .../search?q="credit card" limit  (warm)', f"api/runs/{run}/search", q='"credit card" limit')
    return out


FRAME = "() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))"


def measure_page(browser: Any, url: str, label: str) -> dict[str, Any]:
    """Open the page; time the first map and a few interactions; read the JS heap."""
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    start = time.perf_counter()
    page.goto(url)
    page.wait_for_selector("#map[data-drawn]", timeout=120_000)
    wall = (time.perf_counter() - start) * 1000
    first_map = page.evaluate("App.map.firstDrawn")
    page.wait_for_selector("#layout[data-ready]", state="attached", timeout=300_000)
    ready = page.evaluate("performance.now()")
    result: dict[str, Any] = {
        "label": label,
        "first map (navigation start to first painted map)": first_map,
        "wall clock to map": wall,
        "page ready (fields, tree, panels; polled)": ready,
    }

    def act(name: str, script: str) -> None:
        result[name] = page.evaluate(
            f"async () => {{ const t = performance.now(); await ({script}); await ({FRAME})(); return performance.now() - t; }}"
        )

    act("redraw the map (100% dots)", "Promise.resolve(App.map._draw())")
    act("zoom in x2 (redraw)", "Promise.resolve(App.map.zoomBy(2))")
    act(
        "select a top-level cluster (tree, map, detail)",
        "navigate({cluster: App.run.cluster.id[App.run.levelNames[0][0]]}, {push: true})",
    )
    act(
        "select a base cluster",
        "navigate({cluster: App.run.cluster.id[App.run.levelNames[App.run.maxLevel][0]]}, {push: true})",
    )
    act("filter languages=spanish", "navigate({filters: {languages: ['spanish']}})")
    act("search 'balance' (server or embedded)", "navigate({q: 'balance'})")
    act("colour by user frustration", "navigate({colour: 'field:user_frustration'})")
    act("clear everything", "navigate({cluster: '', q: '', filters: {}, ranges: {}, colour: 'level:0'}, {push: true})")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    result["JS heap used (MB)"] = metrics["JSHeapUsedSize"] / 1024 / 1024
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
    page.screenshot(path=str(REPO / "test-artifacts" / f"bench-{page.evaluate('App.run.n')}-{slug}.png"))
    page.close()
    if errors:
        raise RuntimeError(f"page errors: {errors}")
    return result


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) / 1024 / 1024
    chromium = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True).stdout.strip()
    return f"{cpu}, {os.cpu_count()} cores visible, {mem:.0f} GB RAM; {platform.platform()}; Python {platform.python_version()}; {chromium}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="conversations in the run")
    parser.add_argument(
        "--out", type=Path, default=Path("/tmp/kura-bench-100k"), help="where the run is built (kept for reuse)"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the run again even if it exists")
    parser.add_argument("--no-report", action="store_true", help="skip the static report")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    (REPO / "test-artifacts").mkdir(exist_ok=True)

    numbers: dict[str, Any] = {"machine": machine(), "n": args.n}
    print(f"machine: {numbers['machine']}")
    if args.rebuild or not (args.out / "clusters.parquet").exists():
        import shutil

        shutil.rmtree(args.out, ignore_errors=True)
        numbers["build seconds"] = build_run(args.out, args.n)
        print(f"built {args.out} ({args.n:,} conversations) in {numbers['build seconds']:.1f} s")
    run = args.out.name
    sizes = {p.name: p.stat().st_size for p in args.out.iterdir() if p.is_file()}
    print("run files: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(sizes.items())))

    from playwright.sync_api import sync_playwright

    from kura.server.rundata import RunData

    first_ms, _ = timed(lambda: RunData.load(run, args.out))
    load_ms, data = timed(lambda: RunData.load(run, args.out))  # the second: imports done
    load_ms = min(first_ms, load_ms)
    numbers["load ms"] = round(load_ms)
    print(f"loading the run into the explorer (RunData.load, in-process; what the first map needs): {load_ms:.0f} ms")
    # What RunData.prepare makes in the background after loading, step by step.
    for step in ("fields", "table", "row_of", "lines", "text_index"):
        ms, _ = timed(lambda step=step: getattr(data, step))
        numbers[f"prepare {step} ms"] = round(ms)
        print(f"  then, in the background: {step:12} {ms:8.0f} ms")

    server = Server(args.out)
    try:
        idle = rss_mb(server.process.pid)
        api = measure_api(server.url, run, args.n)
        loaded = rss_mb(server.process.pid)
    finally:
        server.stop()
    numbers["api"] = [{"call": a, "ms": round(ms, 1), "bytes": b} for a, ms, b in api]
    numbers["server RSS MB"] = {
        "idle": round(idle[0]),
        "after loading and searching": round(loaded[0]),
        "peak": round(loaded[1]),
    }
    print(f"\n{'API call':58} {'ms':>9} {'bytes':>12}")
    for a, ms, b in api:
        print(f"{a:58} {ms:9.1f} {b:12,}")
    print(
        f"server memory: {idle[0]:.0f} MB idle, {loaded[0]:.0f} MB with the run loaded and searched (peak {loaded[1]:.0f} MB)"
    )

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        server = Server(args.out)  # fresh: the first page load includes loading the run
        try:
            pages = [
                measure_page(browser, f"{server.url}#run={run}", "served (cold server)"),
                measure_page(browser, f"{server.url}#run={run}", "served (warm)"),
            ]
        finally:
            server.stop()
        if not args.no_report:
            from kura.report import build_report

            report = args.out.parent / f"{run}-report.html"
            seconds, _ = timed(lambda: build_report(args.out, report))
            numbers["report"] = {"build ms": round(seconds), "size MB": round(report.stat().st_size / 1e6, 1)}
            print(f"\nstatic report: {report} ({numbers['report']['size MB']} MB) written in {seconds / 1000:.1f} s")
            pages.append(measure_page(browser, report.as_uri(), "report (file://)"))
        browser.close()
    numbers["page"] = pages
    for result in pages:
        print(f"\n{result['label']}")
        for key, value in result.items():
            if key != "label":
                print(f"  {key:52} {value:9.1f}" + ("" if "MB" in key else " ms"))
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2))


if __name__ == "__main__":
    main()
