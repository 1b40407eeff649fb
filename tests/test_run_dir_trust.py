"""The run directory is never trusted blindly: damaged or edited outputs are recomputed, a
damaged sidecar or cache means a fresh start, and a second run at the same time is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from kura_testdata import DEMO_DATA

import kura
from kura.store.lock import RunLocked

FAST = dict(embedder="hashing", projector="pca", clusters_per_group=8)


@pytest.fixture
def run_dir(tmp_path):
    out = tmp_path / "run"
    kura.run(DEMO_DATA, out, **FAST)
    return out


@pytest.mark.parametrize(
    ("damage", "recomputed"),
    [
        (lambda out: _truncate(out / "clusters.jsonl"), "clusters"),
        (lambda out: _drop_line(out / "meta_clusters.jsonl"), "hierarchy"),
        (lambda out: _truncate(out / "points.npy"), "map"),
        (lambda out: _truncate(out / "vectors.npy"), "embed"),
        (lambda out: (out / "conversations.parquet").unlink(), "export"),
    ],
    ids=["truncated-clusters", "edited-tree", "truncated-points", "truncated-vectors", "missing-table"],
)
def test_a_damaged_or_edited_output_is_recomputed(run_dir, damage, recomputed):
    before = (run_dir / "meta_clusters.jsonl").read_text()
    damage(run_dir)
    again = kura.run(DEMO_DATA, run_dir, **FAST)
    # Only the damaged stage runs again: it rebuilds the same file, so what follows it is
    # still valid (fingerprints chain on the files' digests, not on whether a stage ran).
    assert set(again.stages) - set(again.reused) == {"summarise", recomputed}
    assert (run_dir / "meta_clusters.jsonl").read_text() == before  # the same result, rebuilt
    assert len(again.summaries) == 100


@pytest.mark.parametrize("content", ["", "{not json", "[]", '{"version": 2, "stages": {"map": 3}}'])
def test_a_damaged_sidecar_is_a_fresh_start(run_dir, content):
    (run_dir / "run.json").write_text(content)
    again = kura.run(DEMO_DATA, run_dir, **FAST)
    assert again.reused == [] and len(again.summaries) == 100
    assert again.stages["summarise"].reused == 100  # the item cache still spares the summaries
    assert json.loads((run_dir / "run.json").read_text())["version"] == 2


def test_random_bytes_over_the_cache_cost_a_recomputation_not_a_failure(run_dir):
    cache = run_dir / "cache.sqlite"
    data = bytearray(cache.read_bytes())
    data[4096 : 4096 * 4] = bytes((i * 7919) % 256 for i in range(4096 * 3))
    cache.write_bytes(bytes(data))
    again = kura.run(DEMO_DATA, run_dir, **FAST)
    assert not again.failures and len(again.summaries) == 100
    assert list(run_dir.glob("cache.sqlite.damaged-*"))
    third = kura.run(DEMO_DATA, run_dir, **FAST)
    assert third.stages["summarise"].reused == 100 and not third.failures


def test_a_second_run_into_the_same_folder_is_refused_while_the_first_runs(tmp_path):
    out = tmp_path / "run"
    hold = (
        "import sys, time; from kura.store import RunStore; "
        "store = RunStore(sys.argv[1], write=True); print('running', flush=True); time.sleep(60)"
    )
    first = subprocess.Popen([sys.executable, "-c", hold, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "running"
        with pytest.raises(RunLocked, match="in use by another run"):
            kura.run(DEMO_DATA, out, **FAST)
    finally:
        first.kill()
        first.wait(timeout=30)
    deadline = time.monotonic() + 30
    while True:  # the kernel frees the lock as the process goes
        try:
            assert len(kura.run(DEMO_DATA, out, **FAST).summaries) == 100
            break
        except RunLocked:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _drop_line(path):
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[1:]))
