"""Tables: CSV/TSV and Parquet files, with a mapping from Kura's fields to the table's columns.

With a role column, each row is one message and rows are grouped into conversations by the id
column, in order of first appearance. Without one, each row is a one-message user conversation and
the other columns become its metadata. Rows that hold whole records (a ``messages`` list, say, as
in many Parquet datasets) are read as that record format instead.
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kura.errors import ConfigError, InputError
from kura.io.base import (
    Item,
    Loaded,
    Problem,
    Record,
    RecordContext,
    RecordError,
    Source,
    check_text,
    normalise_role,
    open_text,
    parse_one,
    parse_time,
    plain,
)
from kura.io.records import RECORD_FORMATS, TRACE_FORMATS, match_record
from kura.types.conversation import Conversation, Message

CSV_DESCRIPTION = "CSV/TSV table: a row per message (with a role column) or per conversation; see columns"
PARQUET_DESCRIPTION = "Parquet table, read like CSV; or rows holding records (e.g. a 'messages' column)"

COLUMN_KEYS = ("id", "role", "content", "created_at")
# Column names tried, in order, when the mapping does not name one (compared case-insensitively).
# Conversation ids before a bare "id", which in a message-per-row table is often the message's.
GUESSES: dict[str, tuple[str, ...]] = {
    "id": ("chat_id", "conversation_id", "conv_id", "session_id", "thread_id", "dialogue_id", "id"),
    "role": ("role", "speaker", "sender", "author", "from"),
    "content": ("content", "text", "message", "body", "value", "utterance", "prompt", "query", "question", "input"),
    "created_at": ("created_at", "timestamp", "time", "date", "datetime", "ts", "create_time", "created"),
}

Row = tuple[int, str, dict]  # (index, location, values)
_UNDECODED = re.compile("[\udc80-\udcff]")  # bytes that were not UTF-8, kept by surrogateescape


def parse_column_map(text: str) -> dict[str, str]:
    """``"id=conversation_id,role=speaker,content=text"`` -> a mapping (an empty value: no such column)."""
    mapping: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in text.split(","))):
        key, sep, column = pair.partition("=")
        key = key.strip()
        if not sep:
            raise ConfigError(f"columns: {pair!r} should be KEY=COLUMN, e.g. content=text")
        if key not in COLUMN_KEYS:
            raise ConfigError(f"columns: unknown key {key!r}: use {', '.join(COLUMN_KEYS)}")
        mapping[key] = column.strip()
    return mapping


@dataclass(frozen=True)
class ColumnMap:
    content: str
    id: str | None = None
    role: str | None = None
    created_at: str | None = None


def resolve_columns(names: list[str], mapping: dict[str, str] | None, source: Source) -> ColumnMap:
    """The columns to use: those mapped, the rest guessed by name; InputError listing the columns."""
    mapping = dict(mapping or {})
    unknown = set(mapping) - set(COLUMN_KEYS)
    if unknown:
        raise ConfigError(f"columns: unknown key {sorted(unknown)[0]!r}: use {', '.join(COLUMN_KEYS)}")
    by_lower = {name.lower(): name for name in names}
    listed = _listed(names)

    def pick(key: str) -> str | None:
        if key in mapping:
            wanted = mapping[key]
            if not wanted:
                return None
            found = wanted if wanted in names else by_lower.get(wanted.lower())
            if found is None:
                raise InputError(
                    f"has no column {wanted!r} (given for {key}); its columns are: {listed}",
                    path=str(source.path),
                    location=source.name,
                )
            return found
        return next((by_lower[c] for c in GUESSES[key] if c in by_lower), None)

    content = pick("content")
    if content is None:
        raise InputError(
            f"cannot tell which column holds the message text; its columns are: {listed}. "
            "Name it with columns={'content': NAME} (command line: --columns content=NAME)",
            path=str(source.path),
            location=source.name,
        )
    columns = ColumnMap(content=content, id=pick("id"), role=pick("role"), created_at=pick("created_at"))
    if columns.role and not columns.id:
        raise InputError(
            f"has a role column ({columns.role!r}), so each row is a message, but no conversation id column "
            f"to group them; its columns are: {listed}. Name it with columns={{'id': NAME}} (--columns id=NAME)",
            path=str(source.path),
            location=source.name,
        )
    return columns


def read_rows(source: Source, names: list[str], rows: Iterable[Row]) -> Iterator[Item]:
    """Conversations from table rows: as records when they look like one, else through the columns."""
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        raise InputError("has no rows", path=str(source.path), location=source.name)
    record_format = match_record(first[2]) if source.columns is None else None
    if record_format in TRACE_FORMATS:
        # Rows of a trace export (LangSmith's bulk export is Parquet): grouped as in a JSON file.
        records = (Record(index, location, values) for index, location, values in _chain(first, rows))
        yield from TRACE_FORMATS[record_format].read_records(source, records)
        return
    if record_format is not None:
        parser = RECORD_FORMATS[record_format].parse
        for index, location, values in _chain(first, rows):
            yield parse_one(values, RecordContext(source, index), location, parser)
        return
    columns = resolve_columns(names, source.columns, source)
    if columns.role:
        yield from _messages_per_row(source, columns, _chain(first, rows))
    else:
        yield from _conversation_per_row(source, columns, _chain(first, rows))


def _chain(first: Row, rest: Iterator[Row]) -> Iterator[Row]:
    yield first
    yield from rest


def _text(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(plain(value))


def _time(values: dict, column: str | None) -> datetime | None:
    if not column:
        return None
    try:
        return parse_time(values.get(column))
    except RecordError as exc:
        raise RecordError(f"{column!r}: {exc}") from None


def _conversation_per_row(source: Source, columns: ColumnMap, rows: Iterable[Row]) -> Iterator[Item]:
    used = {columns.id, columns.content, columns.created_at}
    for index, location, values in rows:
        context = RecordContext(source, index)
        text = _text(values.get(columns.content))
        if not text.strip():
            yield Problem(location, f"{columns.content!r} is empty")
            continue
        try:
            created_at = _time(values, columns.created_at)
        except RecordError as exc:
            yield Problem(location, str(exc))
            continue
        chat_id = _text(values.get(columns.id)).strip() if columns.id else ""
        extra = {str(k): plain(v) for k, v in values.items() if k not in used and k is not None and v not in (None, "")}
        yield Loaded(
            location,
            Conversation(
                chat_id=chat_id or context.default_id(),
                created_at=created_at,
                messages=[Message(created_at=created_at, role="user", content=text)],
                metadata=context.metadata(**extra),
            ),
        )


def _messages_per_row(source: Source, columns: ColumnMap, rows: Iterable[Row]) -> Iterator[Item]:
    # Every row must be seen before a conversation is known to be complete (logs ordered by time
    # interleave conversations), so messages are gathered first: memory grows with the table.
    groups: dict[str, tuple[str, int, list[Message]]] = {}
    id_column, role_column = str(columns.id), str(columns.role)
    for index, location, values in rows:
        chat_id = _text(values.get(id_column)).strip()
        if not chat_id:
            yield Problem(location, f"{id_column!r} (the conversation id) is empty")
            continue
        text = _text(values.get(columns.content))
        if not text.strip():
            yield Problem(location, f"{columns.content!r} is empty")
            continue
        try:
            role = normalise_role(values.get(role_column), repr(role_column))
            created_at = _time(values, columns.created_at)
        except RecordError as exc:
            yield Problem(location, str(exc))
            continue
        group = groups.setdefault(chat_id, (location, index, []))
        group[2].append(Message(created_at=created_at, role=role, content=text))
    for chat_id, (location, index, messages) in groups.items():
        yield Loaded(
            location,
            Conversation(
                chat_id=chat_id,
                created_at=messages[0].created_at,
                messages=messages,
                metadata=RecordContext(source, index).metadata(),
            ),
        )


def read_csv(source: Source) -> Iterator[Item]:
    head = check_text(source.path, source.name)
    delimiter = "\t" if _extension(source) == "tsv" else _sniff_delimiter(head)
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # chat messages are longer than csv's 128 KiB default
    # surrogateescape: an undecodable byte spoils only its own row (reported), not the rows near it.
    with open_text(source.path, errors="surrogateescape") as f:
        reader = csv.reader(f, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            raise InputError("the file is empty", path=str(source.path), location=source.name) from None
        names = [name.strip() for name in header]

        damage: list[Problem] = []

        def rows() -> Iterator[Row]:
            index = 0
            try:
                for values in reader:
                    if not any(v.strip() for v in values):
                        continue
                    location = f"{source.name} line {reader.line_num}"
                    if any(_UNDECODED.search(v) for v in values):
                        damage.append(Problem(location, "not UTF-8 text"))
                    else:
                        yield index, location, dict(zip(names, values))
                    index += 1
            except csv.Error as exc:
                # Rows before the damage are kept, as for a cut-off JSON file.
                damage.append(
                    Problem(
                        f"{source.name} line {reader.line_num + 1}",
                        f"cannot be read from here on ({exc}): the rest is not read",
                    )
                )

        # Problems are gathered while rows are read and reported after them (read_rows yields
        # conversations, not rows); the count and the locations are what matter.
        yield from read_rows(source, names, rows())
        yield from damage


def _extension(source: Source) -> str:
    name = source.path.name[:-3] if source.path.name.endswith(".gz") else source.path.name
    return name.rsplit(".", 1)[-1].lower()


def _sniff_delimiter(head: bytes) -> str:
    """The most frequent of , ; tab | in the header line (commas win ties)."""
    first_line = head.split(b"\n", 1)[0].decode("utf-8", "replace")
    counts = {d: first_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def _listed(names: list[str], most: int = 6) -> str:
    """A file's columns for an error message: the first few, each short (a damaged or odd header
    can hold many long names, and the message must stay one readable line)."""
    head = ", ".join(repr(n if len(n) <= 40 else n[:37] + "...") for n in names[:most])
    return head + (f" and {len(names) - most} more" if len(names) > most else "")


def _reason(exc: Exception) -> str:
    """Arrow's message on one short line (some span several: a thrift error, then what failed)."""
    return " ".join(str(exc).split())[:200]


def read_parquet(source: Source) -> Iterator[Item]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(source.path)
        names = list(table.schema_arrow.names)
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        # UnicodeDecodeError: damaged bytes in the footer's column names (pyarrow decodes them).
        raise InputError(
            f"is not a readable Parquet file ({_reason(exc)})", path=str(source.path), location=source.name
        ) from None
    damage: list[Problem] = []

    def rows() -> Iterator[Row]:
        index = 0
        # Row group by row group: damaged bytes (a page that cannot be decoded, text that is not
        # UTF-8) cost the rest of their row group, not the groups after it, and never a traceback.
        for group in range(table.num_row_groups):
            end = index + table.metadata.row_group(group).num_rows
            try:
                # Batches keep memory flat on large files; to_pylist gives plain Python values.
                for batch in table.iter_batches(batch_size=1024, row_groups=[group]):
                    for values in batch.to_pylist():
                        yield index, f"{source.name} [{index}]", values
                        index += 1
            except (pa.ArrowException, OSError, UnicodeDecodeError) as exc:
                damage.append(
                    Problem(f"{source.name} [{index}]", f"rows {index} to {end - 1} cannot be read ({_reason(exc)})")
                )
            index = end

    yield from read_rows(source, names, rows())
    yield from damage  # after the rows, as for CSV: read_rows yields conversations, not rows
