"""Helpers for the explorer's tests: making runs, a live server, screenshots."""

from __future__ import annotations

import json
from pathlib import Path

from kura_testdata import DEMO_DATA, LiveServer, clinc_lines  # noqa: F401  (re-exported for the web tests)

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
ARTIFACTS = REPO / "test-artifacts"
#: Fast settings for runs made by tests: the explorer does not care how vectors were made.
FAST = dict(embedder="hashing", projector="pca")


def clinc_rows(every: int) -> list[dict]:
    """Every ``every``-th CLINC150 query (real, labelled, one turn each)."""
    return [json.loads(line) for i, line in enumerate(clinc_lines()) if i % every == 0]


def make_run(inputs: list[Path] | Path, out: Path, **settings: object) -> Path:
    """A real run of the pipeline (Playwright's sync API keeps a loop running: kura.run copes)."""
    import kura

    kura.run(inputs, out, **{**FAST, **settings})
    return out


def shoot(page: object, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))  # type: ignore[attr-defined]
    return path


def wait_for_map(page: object, timeout: float = 15_000) -> None:
    """Until the map has drawn its dots (data-drawn on #map) and the page has the run's fields,
    tree and panels (data-ready on #layout: the map comes first, the rest right after)."""
    page.wait_for_selector("#map[data-drawn]", timeout=timeout)  # type: ignore[attr-defined]
    page.wait_for_selector("#layout[data-ready]", state="attached", timeout=timeout)  # type: ignore[attr-defined]


# -- hostile data ----------------------------------------------------------------------------------------
#: Each payload, if it ever ran, would set window.__pwned or the page title.
PAYLOADS = [
    '<script>window.__pwned=1;document.title="pwned"</script>',
    "<img src=x onerror=\"window.__pwned=1;document.title='pwned'\">",
    "javascript:window.__pwned=1",
    '"><svg onload="window.__pwned=1">',
    "</script><script>window.__pwned=1</script>",
    '<a href="javascript:window.__pwned=1">click me</a>',
    "{{constructor.constructor('window.__pwned=1')()}}",
    "line\u2028separator\u2029<!--",
]
#: A folder name can hold any of these characters but "/".
HOSTILE_RUN = "<img src=x onerror=window.__pwned=1>"
HOSTILE_KEY = "<img src=x onerror=window.__pwned=2>"


def make_hostile_run(root: Path) -> Path:
    """A real run whose every text field (messages, ids, metadata keys and values, summaries,
    facets, cluster names and descriptions, the run's own name) carries script payloads."""
    import numpy as np

    from kura.store import RunStore
    from kura.store.export import write_parquet_exports
    from kura.types import ConversationSummary, ProjectedCluster

    source = root.parent / "hostile.jsonl"
    with open(source, "w", encoding="utf-8") as f:
        for i in range(24):
            p = PAYLOADS[i % len(PAYLOADS)]
            record = {
                "id": f"{p} #{i}",
                "created_at": f"2026-0{1 + i % 9}-1{i % 10}T10:00:00Z",
                "messages": [
                    {"role": "system", "content": f"system {p}"},
                    {"role": "user", "content": f"please help with {p} and ```js\n{p}\n``` topic {i % 3}"},
                    {"role": "assistant", "content": f"sure: {PAYLOADS[(i + 1) % len(PAYLOADS)]}"},
                ],
                HOSTILE_KEY: p,
                "tag": PAYLOADS[i % 3],
                "score": i % 5,
            }
            f.write(json.dumps(record) + "\n")
    out = make_run(source, root / HOSTILE_RUN, clusters_per_group=4)
    store = RunStore(out)
    summaries = store.read_models("summaries.jsonl", ConversationSummary)
    for i, s in enumerate(summaries):
        p = PAYLOADS[i % len(PAYLOADS)]
        s.topic, s.task = p, PAYLOADS[(i + 2) % len(PAYLOADS)]
        s.languages, s.assistant_errors = [p, "python"], [PAYLOADS[(i + 3) % len(PAYLOADS)]]
        s.concerning_score, s.user_frustration = 1 + i % 5, 1 + (i * 2) % 5
    clusters = store.read_models("dimensionality.jsonl", ProjectedCluster)
    for i, c in enumerate(clusters):
        c.name = f"{PAYLOADS[i % len(PAYLOADS)]} cluster {i}"
        c.description = PAYLOADS[(i + 4) % len(PAYLOADS)]
    store.write_models("summaries.jsonl", summaries, exclude={"embedding"})
    store.write_models("dimensionality.jsonl", clusters)
    write_parquet_exports(store, summaries, clusters, np.load(store.file("points.npy")))
    store.close()
    return out
