"""A run directory that cannot be written: one clear line and a non-zero exit, never a traceback,
and nothing half-written that a later run would trust.

The failures are real: a path under /proc, an immutable folder (``chattr +i``, or a read-only one
when not root), a file where a folder should be, files capped by ``RLIMIT_FSIZE`` (writes past the
cap fail with EFBIG) and, where mounting is allowed, a full tmpfs (ENOSPC).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from kura_testdata import DEMO_DATA

from kura.errors import StoreError
from kura.store import ItemCache, RunStore

FAST = ["--embedder", "hashing", "--projector", "pca", "--quiet"]


def kura(*args: object, file_limit: int | None = None) -> subprocess.CompletedProcess:
    """The CLI in a real process; ``file_limit`` caps the size of every file it writes (bytes)."""

    def cap_files() -> None:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    return subprocess.run(
        [sys.executable, "-m", "kura.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=cap_files if file_limit else None,
    )


def assert_one_line_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


def leftovers(folder: Path) -> list[str]:
    """Temporary files a failed write left behind (a later run must never see half a file)."""
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".tmp"))


@pytest.fixture
def locked(tmp_path):
    """A folder nothing can be created in: immutable as root (root ignores modes), read-only otherwise."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: no way to make a folder unwritable for root")
        done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"chattr +i does not work here: {done.stderr.strip()}")
        yield folder
        subprocess.run(["chattr", "-R", "-i", str(folder)], check=True)
    else:
        folder.chmod(0o500)
        yield folder
        folder.chmod(0o700)


def test_out_under_proc_is_one_clear_line(tmp_path):
    if not Path("/proc/self").exists():
        pytest.skip("no /proc on this system")
    done = kura("run", DEMO_DATA, "--out", "/proc/kura", *FAST)
    assert_one_line_error(done, "/proc/kura", "--out")


def test_out_in_an_immutable_folder_is_one_clear_line(locked):
    done = kura("run", DEMO_DATA, "--out", locked / "run", *FAST)
    assert_one_line_error(done, str(locked / "run"), "permission denied", "--out")


def test_out_below_a_file_is_one_clear_line(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    done = kura("run", DEMO_DATA, "--out", tmp_path / "afile" / "run", *FAST)
    assert_one_line_error(done, str(tmp_path / "afile" / "run"), "not a directory", "--out")


def test_a_run_directory_made_immutable_later_is_one_clear_line(tmp_path):
    out = tmp_path / "run"
    assert kura("run", DEMO_DATA, "--out", out, *FAST).returncode == 0
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        pytest.skip("needs root and chattr to make an existing folder unwritable for everyone")
    if subprocess.run(["chattr", "+i", str(out)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i does not work here")
    try:
        done = kura("run", DEMO_DATA, "--out", out, *FAST)
    finally:
        subprocess.run(["chattr", "-i", str(out)], check=True)
    assert_one_line_error(done, str(out), "permission denied")


# Each cap stops the run at a different writer: the cache's first page, the conversations being
# copied into the run directory, the cache's write-ahead log as summaries stream in.
@pytest.mark.parametrize("file_limit", [2_000, 100_000, 200_000])
def test_a_full_disk_is_one_clear_line_and_a_rerun_recovers(tmp_path, file_limit):
    out = tmp_path / "run"
    done = kura("run", DEMO_DATA, "--out", out, *FAST, file_limit=file_limit)
    assert_one_line_error(done, str(out), "no space left", "free some space")
    assert leftovers(tmp_path) == []

    again = kura("run", DEMO_DATA, "--out", out, *FAST)
    assert again.returncode == 0, again.stderr
    clean = kura("run", DEMO_DATA, "--out", tmp_path / "clean", *FAST)
    for name in ("summaries.jsonl", "meta_clusters.jsonl", "conversations.jsonl"):
        assert (out / name).read_bytes() == (tmp_path / "clean" / name).read_bytes(), name
    assert clean.stdout.split("Saved to")[0] == again.stdout.split("Saved to")[0]


def test_a_full_tmpfs_is_one_clear_line(tmp_path):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        done = kura("run", DEMO_DATA, "--out", disk / "run", *FAST)
        assert_one_line_error(done, str(disk / "run"), "no space left")
        assert leftovers(disk) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# -- the store layer itself: every writer turns OSError into one StoreError naming its file -------


@pytest.fixture
def frozen_store(tmp_path):
    """A run directory with a finished file in it, then made unwritable."""
    store = RunStore(tmp_path / "run")
    store.write_json("run.json", {"stages": {}})
    if os.geteuid() == 0:
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(store.path)]).returncode != 0:
            pytest.skip("running as root and chattr +i does not work here")
        yield store
        subprocess.run(["chattr", "-i", str(store.path)], check=True)
    else:
        store.path.chmod(0o500)
        yield store
        store.path.chmod(0o700)


@pytest.mark.parametrize(
    "write",
    [
        lambda s: s.write_json("run.json", {"x": 1}),
        lambda s: s.write_failures([{"id": "a", "stage": "summarise", "error": "x"}]),
        lambda s: s.write_binary("points.npy", lambda f: np.save(f, np.zeros((3, 2), dtype=np.float32))),
        lambda s: list(s.write_through("conversations.jsonl", iter(["{}", "{}"]), str)),
    ],
    ids=["json", "failures", "npy", "stream"],
)
def test_every_run_directory_writer_raises_store_error(frozen_store, write):
    with pytest.raises(StoreError, match="permission denied") as info:
        write(frozen_store)
    assert str(frozen_store.path) in str(info.value) and "\n" not in str(info.value)
    assert (frozen_store.path / "run.json").read_text().strip() == '{\n  "stages": {}\n}'
    assert leftovers(frozen_store.path) == []


def test_the_item_cache_in_an_unwritable_folder_raises_store_error(locked):
    with pytest.raises(StoreError, match="cache.sqlite") as info:
        ItemCache(locked / "cache.sqlite")
    assert "\n" not in str(info.value)


def test_the_item_cache_on_a_read_only_file_raises_store_error(tmp_path):
    path = tmp_path / "cache.sqlite"
    with ItemCache(path) as cache:
        cache.put_text("summary", "k", "v")
    os.chmod(path, 0o400)
    if os.geteuid() == 0:  # root writes read-only files: make it immutable instead
        if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(path)]).returncode != 0:
            pytest.skip("running as root and chattr +i does not work here")
    try:
        with pytest.raises(StoreError, match="cache.sqlite"):
            cache = ItemCache(path)
            cache.put_text("summary", "k2", "v2")
            cache.close()
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
