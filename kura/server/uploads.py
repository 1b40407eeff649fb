"""Files dropped on the page: size limits, safe names, and the new run's folder.

The client's file name is never trusted as a path: only its last component survives, reduced
to letters, digits, ``.``, ``_`` and ``-``, in a numbered folder of the new run's ``inputs/``
(``inputs/01/export.json``), so two files of the same name never collide and the name people
see in the "Source file" breakdown is the one they uploaded. The extension is kept because
format detection reads it.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from starlette.types import Message, Receive

from kura.errors import InputError

MB = 1024 * 1024
DEFAULT_MAX_UPLOAD_MB = 200
MAX_FILES = 100

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadTooLarge(InputError):
    """The request body went over the server's limit."""


def too_large(size: int, limit: int) -> UploadTooLarge:
    return UploadTooLarge(
        f"the upload is {size / MB:.1f} MB, over this server's {limit / MB:.0f} MB limit: "
        f"upload fewer files at once, or restart with `kura serve --max-upload-mb {max(limit // MB * 2, size // MB + 1)}`"
    )


def limited_receive(receive: Receive, limit: int) -> Receive:
    """An ASGI ``receive`` that fails once more than ``limit`` body bytes arrive.

    The Content-Length check catches honest clients before anything is read; this catches the
    rest (chunked bodies, lying headers) while the multipart parser streams.
    """
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise too_large(seen, limit)
        return message

    return wrapped


def safe_file_name(name: str) -> str:
    """A plain file name from any client-supplied one (``../../x.json`` becomes ``x.json``)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    return _UNSAFE.sub("_", base).strip("._")[:100] or "upload"


def run_name(requested: str, is_taken: Callable[[str], bool]) -> str:
    """A folder name for a new run: the requested one made safe, or ``upload-<time>``; never reused."""
    stem = _UNSAFE.sub("-", requested or "").strip(".-_")[:60] or datetime.now().strftime("upload-%Y%m%d-%H%M%S")
    name, n = stem, 2
    while is_taken(name):
        name, n = f"{stem}-{n}", n + 1
    return name


class UploadedFile(Protocol):
    filename: str | None
    file: Any


def save_uploads(files: Iterable[UploadedFile], folder: Path) -> tuple[list[Path], list[str]]:
    """Copy the uploaded files into ``folder``; returns their paths and original names."""
    folder.mkdir(parents=True, exist_ok=False)
    paths, names = [], []
    for index, upload in enumerate(files, start=1):
        target = folder / f"{index:02d}" / safe_file_name(upload.filename or "")
        target.parent.mkdir()
        with open(target, "wb") as out:
            shutil.copyfileobj(upload.file, out, length=MB)
        if target.stat().st_size == 0:
            raise InputError("is empty (0 bytes): choose a file of conversations", path=upload.filename or target.name)
        paths.append(target)
        names.append(upload.filename or target.name)
    return paths, names
