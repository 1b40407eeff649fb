"""Writing into the run directory: whole files or none, and OS failures as one clear ``StoreError``.

Every file is written to a temporary name in the same folder and renamed over the target once
complete, so a kill or a full disk never leaves half a file that a later run would trust; a
failed write removes its temporary file. An ``OSError`` becomes a ``StoreError`` naming the path,
what failed and what to do about it.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from kura.errors import StoreError

_NO_SPACE = "free some space (or choose --out on another disk) and run again: finished work is reused"
_ELSEWHERE = "choose another --out"

#: errno -> (what failed, the fix).
_CAUSES = {
    errno.EACCES: ("permission denied", f"{_ELSEWHERE}, or make the folder writable"),
    errno.EPERM: (
        "permission denied (operation not permitted: an immutable folder?)",
        f"{_ELSEWHERE}, or make the folder writable (chattr -i)",
    ),
    errno.EROFS: ("read-only file system", f"{_ELSEWHERE} on a writable disk"),
    errno.ENOSPC: ("no space left on the device", _NO_SPACE),
    errno.EDQUOT: ("no space left: disk quota exceeded", _NO_SPACE),
    errno.EFBIG: ("no space left for the file: it reached the size limit (ulimit -f)", _NO_SPACE),
    errno.ENOTDIR: ("not a directory: a part of the path is a file", _ELSEWHERE),
    errno.ENOENT: ("cannot be created there: no such file or directory", _ELSEWHERE),
}


def describe_os_error(exc: OSError) -> str:
    """What failed and the fix, in words (``no space left on the device: free some space ...``)."""
    cause, fix = _CAUSES.get(exc.errno or 0, (exc.strerror or str(exc), _ELSEWHERE))
    return f"{cause}: {fix}"


def store_error(exc: OSError, path: Path | str) -> StoreError:
    """The ``StoreError`` for ``exc``, naming the file the OS complained about (else ``path``)."""
    where = exc.filename if isinstance(exc.filename, str) else str(path)
    return StoreError(f"cannot write the run directory: {describe_os_error(exc)}", path=where)


@contextmanager
def writing(path: Path | str) -> Iterator[None]:
    """Turn an ``OSError`` raised inside the block into a ``StoreError`` about ``path``."""
    try:
        yield
    except OSError as exc:
        raise store_error(exc, path) from exc


@contextmanager
def replacing(path: Path, *, binary: bool = False) -> Iterator[IO]:
    """A file object whose content replaces ``path`` when the block ends without an error."""
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(name)
    f: IO = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")
    try:
        with writing(path):
            yield f
            f.flush()  # flushing may be what hits the full disk: inside the guard
            os.fsync(f.fileno())  # on disk before the rename, so a power cut cannot leave an empty file
            f.close()
            os.replace(tmp, path)
    except BaseException:
        _discard(f, tmp)
        raise


def _discard(f: IO, tmp: Path) -> None:
    """Drop a temporary file after a failure; closing it may fail again (the disk is still full)."""
    try:
        f.close()
    except OSError:
        pass  # the write that failed first is the one worth reporting
    tmp.unlink(missing_ok=True)
