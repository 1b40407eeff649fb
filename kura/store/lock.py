"""One run at a time per run directory.

Two runs writing the same folder would interleave their artifacts (one input's summaries beside
another's map). The lock is an ``flock`` on ``run.lock``: the kernel drops it when the process
ends, however it ends, so a killed run never leaves a stale lock behind, and nothing has to
guess whether a recorded process id is still alive.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from kura.errors import KuraError

LOCK_FILE = "run.lock"


class RunLocked(KuraError):
    """Another run is writing this run directory."""


class RunLock:
    """Held from ``acquire`` until ``release`` (or the end of the process)."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            os.close(fd)
            raise RunLocked(
                f"{self.path.parent} is in use by another run{holder}: wait for it to finish, or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read(fd: int) -> str:
    try:
        pid = os.pread(fd, 32, 0).decode().strip()
    except OSError:
        return ""
    return f" (process {pid})" if pid.isdigit() else ""
