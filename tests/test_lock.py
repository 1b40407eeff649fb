"""The run directory's lock: a second run is refused in one line; a killed run's lock does not stick."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from kura.store.lock import RunLock, RunLocked

HOLD = (
    "import sys, time; from pathlib import Path; from kura.store.lock import RunLock; "
    "RunLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)"
)


def test_a_second_holder_is_refused_and_the_lock_frees_when_the_holder_is_killed(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLocked, match=rf"in use by another run \(process {holder.pid}\)"):
            RunLock(tmp_path).acquire()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=30)
    with RunLock(tmp_path):  # the kernel dropped the dead process's lock
        pass


def test_the_same_process_releases_and_takes_it_again(tmp_path):
    first = RunLock(tmp_path).acquire()
    with pytest.raises(RunLocked):
        RunLock(tmp_path).acquire()
    first.release()
    RunLock(tmp_path).acquire().release()
