"""Read conversations from files and folders in any supported format, lazily, with a report.

Paths are checked when ``iter_conversations`` is called (a missing file fails at once); files are
opened and read one record at a time as the result is iterated.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from functools import partial
from pathlib import Path

from kura.errors import InputError
from kura.io import hf, tabular
from kura.io.base import Item, Problem, Source, check_path, read_record_file, shown
from kura.io.detect import FORMATS, detect_source, file_kind, format_names
from kura.io.records import RECORD_FORMATS, TRACE_FORMATS
from kura.io.report import FileReport, LoadReport
from kura.types.conversation import Conversation

logger = logging.getLogger("kura.io")

PathLike = str | Path
Reader = Callable[[Source], Iterator[Item]]


def iter_conversations(
    paths: PathLike | Sequence[PathLike],
    *,
    format: str = "auto",
    strict: bool = False,
    report: LoadReport | None = None,
    columns: dict[str, str] | None = None,
) -> Iterator[Conversation]:
    """Yield the conversations of ``paths`` (files, or folders read recursively in sorted order).

    ``format``: ``auto`` (detect each file from its content) or one of ``FORMATS``. A malformed
    record is skipped and noted in ``report``; with ``strict=True`` it raises ``InputError`` instead.
    ``columns`` maps ``id``/``role``/``content``/``created_at`` to column names for CSV, Parquet
    and HF tables. A chat id seen before is dropped when the conversation is the same, renamed
    (``id#2``) when it is not.
    """
    sources = resolve_sources(paths, format=format, columns=columns)
    return _read(sources, strict=strict, report=report if report is not None else LoadReport())


def load_conversations(
    paths: PathLike | Sequence[PathLike],
    *,
    format: str = "auto",
    strict: bool = False,
    report: LoadReport | None = None,
    columns: dict[str, str] | None = None,
) -> list[Conversation]:
    """All conversations of ``paths`` as a list (see :func:`iter_conversations`)."""
    return list(iter_conversations(paths, format=format, strict=strict, report=report, columns=columns))


def load_with_metadata_fn(path: PathLike, *, format: str, metadata_fn: Callable[[dict], dict]) -> list[Conversation]:
    """Kura 0.5's loaders: ``metadata_fn(raw record)`` is added to each conversation's metadata."""
    report = LoadReport()
    sources = [replace(s, metadata_fn=metadata_fn) for s in resolve_sources(path, format=format, columns=None)]
    conversations = list(_read(sources, strict=False, report=report))
    if report.total_skipped:
        logger.warning("; ".join(report.summary_lines()))
    return conversations


# ---------------------------------------------------------------------------------------------
# Paths -> sources


def resolve_sources(
    paths: PathLike | Sequence[PathLike], *, format: str, columns: dict[str, str] | None
) -> list[Source]:
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    if format != "auto" and format not in FORMATS:
        where = str(items[0]) if items else None
        raise InputError(
            f"format {format!r} is unknown: use auto or one of {format_names()}", path=where, location=where
        )
    sources: list[Source] = []
    for item in items:
        path = Path(item).expanduser()
        shown = str(item)
        check_path(path, shown)
        if path.is_dir() and not (hf.is_hf_dataset_dir(path) and format in ("auto", "hf")):
            found = [p for p in _walk(path, {_identity(os.stat(path))}, set()) if _wanted(p, format)]
            if not found:
                raise InputError(
                    f"the folder has no {'supported' if format == 'auto' else format} files "
                    "(looked for .json, .jsonl, .ndjson, .csv, .tsv, .parquet, their .gz, and Hugging Face dataset folders)",
                    path=shown,
                    location=shown,
                )
            sources.extend(
                Source(path=p, name=str(p.relative_to(path)), format=format, columns=columns, explicit=False)
                for p in found
            )
        else:
            sources.append(Source(path=path, name=path.name or shown, format=format, columns=columns))
    return sources


def _walk(folder: Path, folders_seen: set[tuple[int, int]], files_seen: set[tuple[int, int]]) -> Iterator[Path]:
    """Files under ``folder`` in sorted order; hidden entries skipped; HF dataset folders as one.

    Symlinks are followed, but a folder or file already reached (by its device and inode) is not
    walked or read again: links back to a parent folder (``ln -s . a``) would otherwise make the
    walk endless. Entries that cannot be followed (a symlink loop, a FIFO) are yielded, and the
    reader reports them without opening them.
    """
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as exc:
        raise InputError(
            f"cannot list the folder: {exc.strerror or exc}", path=str(folder), location=str(folder)
        ) from None
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            status = os.stat(entry)
        except OSError:
            yield entry  # a symlink loop or a dangling link: reported when read
            continue
        seen = folders_seen if stat.S_ISDIR(status.st_mode) else files_seen
        if _identity(status) in seen:
            continue
        seen.add(_identity(status))
        if not stat.S_ISDIR(status.st_mode):
            yield entry
        elif hf.is_hf_dataset_dir(entry):
            yield entry
        else:
            yield from _walk(entry, folders_seen, files_seen)


def _identity(status: os.stat_result) -> tuple[int, int]:
    return status.st_dev, status.st_ino


def _wanted(path: Path, format: str) -> bool:
    if path.is_dir():
        return True  # an HF dataset folder (the walk yields no other folders)
    kind = file_kind(path)
    if kind is None or format == "hf":
        return False
    if format in ("auto", kind):
        return True
    return kind == "json" and (format in RECORD_FORMATS or format in TRACE_FORMATS)


def reader_for(format: str) -> Reader:
    if format in RECORD_FORMATS:
        return partial(read_record_file, parse=RECORD_FORMATS[format].parse)
    if format in TRACE_FORMATS:
        return TRACE_FORMATS[format].read
    readers: dict[str, Reader] = {"csv": tabular.read_csv, "parquet": tabular.read_parquet, "hf": hf.read}
    return readers[format]


# ---------------------------------------------------------------------------------------------
# Reading, with the report and the id bookkeeping


def _read(sources: Iterable[Source], *, strict: bool, report: LoadReport) -> Iterator[Conversation]:
    ids = _IdRegistry()
    sources = list(sources)
    for source in sources:
        entry = report.add_file(str(source.path), source.name)
        try:
            yield from _read_source(source, entry, ids, strict)
        except InputError as exc:
            if strict or source.explicit:
                raise
            # A stray file in a folder (notes, an empty export) must not stop the folder's others;
            # the report says it was not read.
            entry.error = str(exc).removeprefix(f"{source.name}: ")
    if sources and len(report.failed_files) == len(sources):
        first = report.failed_files[0]
        raise InputError(f"none of the {len(sources)} files could be read; the first: {first.name}: {first.error}")
    entries = report.files[-len(sources) :] if sources else []
    if entries and not any(e.loaded for e in entries) and any(e.skipped for e in entries):
        raise InputError(_nothing_usable(entries))


def _nothing_usable(entries: list[FileReport]) -> str:
    """Every record was bad: say so, with the first reason (not the 'empty input' that follows)."""
    skipped = sum(e.skipped for e in entries)
    first = next(issue for e in entries for issue in e.issues)
    counted = "the 1 record was skipped" if skipped == 1 else f"all {skipped:,} records were skipped"
    return f"no conversation could be read: {counted}; the first: {first}"


def _read_source(source: Source, entry: FileReport, ids: _IdRegistry, strict: bool) -> Iterator[Conversation]:
    check_path(source.path, source.name)  # a FIFO found in a folder must not be opened: it would wait forever
    try:
        fmt = detect_source(source) if source.format == "auto" else source.format
        entry.format = fmt
        items = reader_for(fmt)(replace(source, format=fmt))
        for item in items:
            if isinstance(item, Problem):
                if strict:
                    raise InputError(item.message, path=str(source.path), location=item.location)
                entry.skip(str(item))
                continue
            conversation = ids.admit(item.conversation, item.location, entry)
            if conversation is not None:
                entry.loaded += 1
                yield conversation
    except OSError as exc:  # permission denied, a file removed while reading...
        raise InputError(
            f"cannot be read: {exc.strerror or exc}", path=str(source.path), location=source.name
        ) from None


class _IdRegistry:
    """Chat ids seen so far, each with a digest of its messages (8 bytes: memory stays small)."""

    def __init__(self) -> None:
        self.seen: dict[str, bytes] = {}

    def admit(self, conversation: Conversation, location: str, entry: FileReport) -> Conversation | None:
        digest = _digest(conversation)
        chat_id = conversation.chat_id
        previous = self.seen.get(chat_id)
        if previous is None:
            self.seen[chat_id] = digest
            return conversation
        if previous == digest:
            entry.duplicates += 1  # the same conversation again (an export read twice): drop it
            return None
        number = 2
        while f"{chat_id}#{number}" in self.seen:
            number += 1
        new_id = f"{chat_id}#{number}"
        self.seen[new_id] = digest
        entry.renamed += 1
        entry.note(
            f"{location}: chat_id {shown(chat_id)} was already used by a different conversation: renamed to {shown(new_id)}"
        )
        metadata = {**conversation.metadata, "original_chat_id": chat_id}
        return conversation.model_copy(update={"chat_id": new_id, "metadata": metadata})


def _digest(conversation: Conversation) -> bytes:
    h = hashlib.blake2b(digest_size=8)
    for message in conversation.messages:
        h.update(message.role.encode())
        h.update(b"\x1f")
        h.update(message.content.encode("utf-8", "surrogatepass"))
        h.update(b"\x1e")
    return h.digest()
