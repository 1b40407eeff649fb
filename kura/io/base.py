"""What every reader shares: opening files (gzip, UTF-8 checks), records with their locations,
and the small conversions every format needs (timestamps, roles, ids, metadata).

A reader is a function ``read(source) -> Iterator[Loaded | Problem]``. It never raises for one bad
record: it yields a ``Problem`` naming where the record is and what is wrong, and the loader decides
(skip and count, or stop under ``strict``). Problems with the file as a whole (empty, binary, not
JSON) raise ``InputError``.
"""

from __future__ import annotations

import codecs
import errno
import gzip
import io
import json
import os
import re
import stat
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from itertools import islice
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from kura.errors import InputError
from kura.io.jsonstream import TOO_DEEP, Broken, TooDeep, has_undecoded, iter_json_array, loads
from kura.types.conversation import Conversation, Role

GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 1 << 16
# Lines of a file looked at to tell JSON Lines from one pretty-printed object.
LAYOUT_LINES = 20


@dataclass(frozen=True)
class Source:
    """One input to read. ``name`` is how messages and metadata refer to it (the path as found)."""

    path: Path
    name: str
    format: str = "auto"
    columns: dict[str, str] | None = None
    # Named on the command line / in the call (errors stop the load), or found inside a folder
    # (errors are noted and the folder's other files still load).
    explicit: bool = True
    # Kura 0.5's metadata_fn: called with each raw record; what it returns joins the metadata.
    metadata_fn: Callable[[dict], dict] | None = None
    # Stands in for the file stem in derived ids (a split of a dataset: "<folder>:<split>").
    id_prefix: str | None = None

    @property
    def stem(self) -> str:
        """The file name without ``.gz`` and its extension: the prefix of ids derived from it."""
        if self.id_prefix is not None:
            return self.id_prefix
        name = self.path.name
        if name.endswith(".gz"):
            name = name[:-3]
        return name.rsplit(".", 1)[0] if "." in name else name


class RecordError(ValueError):
    """What is wrong with one record. Readers raise it; the location is added around it."""


@dataclass(frozen=True)
class Loaded:
    location: str
    conversation: Conversation


@dataclass(frozen=True)
class Problem:
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


Item = Loaded | Problem
Parser = Callable[[Any, "RecordContext"], Conversation]


@dataclass(frozen=True)
class RecordContext:
    """Where a record sits, for ids derived from its position and for source metadata."""

    source: Source
    index: int

    def default_id(self) -> str:
        return f"{self.source.stem}:{self.index}"

    def metadata(self, **fields: Any) -> dict[str, Any]:
        """Source file and format first, then the given fields that have a value."""
        out: dict[str, Any] = {"source_file": self.source.name, "source_format": self.source.format}
        out.update({k: v for k, v in fields.items() if v is not None and v != "" and v != []})
        return out


# ---------------------------------------------------------------------------------------------
# Opening files


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading, decompressing gzip transparently (by its magic bytes, not its name)."""
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic == GZIP_MAGIC:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


def open_text(path: Path, errors: str = "strict", newline: str | None = "") -> IO[str]:
    # utf-8-sig drops a byte-order mark (Windows tools write one); newline="" keeps byte offsets
    # true and is what the csv module needs; newline=None reads \r, \n and \r\n as line ends.
    return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", errors=errors, newline=newline)


_SPECIAL_KINDS = {
    stat.S_IFIFO: "a FIFO, a named pipe",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
}


def path_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a file or folder (missing, a symlink loop, a FIFO...), or None.

    Opening a FIFO or a device would wait for a writer forever, so they are refused up front.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symlink loop (following its links leads back to itself)"
        if path.is_symlink():
            return f"is a symlink to {os.readlink(path)!r}, which does not exist"
        if exc.errno == errno.ENOENT:
            return "no such file or folder"
        return f"cannot be read: {exc.strerror or exc}"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = _SPECIAL_KINDS.get(stat.S_IFMT(mode), "a special file")
    return f"is not a regular file (it is {kind}): give a file or a folder of files"


def check_path(path: Path, name: str) -> None:
    """Raise InputError when ``path`` is not a readable file or folder (see :func:`path_problem`)."""
    problem = path_problem(path)
    if problem is not None:
        raise InputError(problem, path=str(path), location=name)


def read_head(path: Path, name: str, size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes (decompressed); whatever stops the reading becomes an InputError."""
    try:
        with open_binary(path) as f:
            return f.read(size)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise InputError(f"not a readable gzip file ({exc})", path=str(path), location=name) from None
    except IsADirectoryError:
        raise InputError("is a folder, not a file", path=str(path), location=name) from None
    except OSError as exc:
        raise InputError(f"cannot be read: {exc.strerror or exc}", path=str(path), location=name) from None


def check_text(path: Path, name: str) -> bytes:
    """Refuse empty and binary files with one clear message; return the head.

    A few bad bytes (a stray NUL, an undecodable byte) do not condemn the file: they cost only
    their own records, which the readers report. Whether a head with no readable record at all is
    text in another encoding is told by :func:`explain_unreadable`.
    """
    head = read_head(path, name)
    if not head.strip():
        raise InputError("the file is empty", path=str(path), location=name)
    if looks_binary(head):
        raise InputError(
            "is a binary file (it contains NUL bytes), or text in an encoding other than UTF-8 such as UTF-16",
            path=str(path),
            location=name,
        )
    return head


def looks_binary(head: bytes) -> bool:
    # UTF-16 text is about half NUL bytes, images and archives are full of them; text damaged by a
    # stray NUL has one or two.
    return head.count(0) * 100 >= len(head)


def undecodable_at(head: bytes) -> int | None:
    """The offset of the first byte of ``head`` that is not UTF-8, or None."""
    try:
        # final=False: the head may end in the middle of a multi-byte character.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError as exc:
        return exc.start
    return None


def explain_unreadable(path: Path, name: str, first: Problem) -> InputError:
    """The error for a file whose start holds no readable record: the encoding if that is the cause."""
    offset = undecodable_at(read_head(path, name))
    if offset is not None:
        return InputError(
            f"is not UTF-8 text (undecodable byte at offset {offset}): save it as UTF-8",
            path=str(path),
            location=name,
        )
    return InputError(f"no readable record at the start ({first})", path=str(path), location=name)


# ---------------------------------------------------------------------------------------------
# JSON records: JSON array, JSON Lines, or a single JSON object


@dataclass(frozen=True)
class Record:
    index: int
    location: str
    value: Any


def json_layout(path: Path, name: str) -> str:
    """``array``, ``lines`` or ``object``, from the first lines of the file."""
    head = check_text(path, name).lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"[") and not re.search(b"[\r\n]", head):
        return "array"  # one line longer than the head: an array written in one go, as exports are
    kinds = _line_kinds(path)
    records = kinds.count("record")
    if head.startswith(b"["):
        # An array, unless its first line is a whole JSON value of its own followed by records:
        # JSON Lines whose first record is damaged (a list where an object should be).
        return "lines" if kinds[0] is not None and records else "array"
    if not records:
        if head.startswith(b"{"):
            return "object"
        shown = head[:20].decode("utf-8", "replace")
        raise InputError(
            f"is not JSON (it starts with {shown!r}); a table needs the extension .csv, .tsv or .parquet, or format='csv'",
            path=str(path),
            location=name,
        )
    # JSON Lines when the first line is whole JSON, or when two of the first lines are whole records,
    # or when a first line that is not JSON at all is followed by one: damaged lines at the start must
    # not hide the rest. A pretty-printed object has at most one whole record line (an inner object
    # written inline) and starts with a line that is not whole.
    if kinds[0] is not None or records >= 2 or not head.startswith(b"{"):
        return "lines"
    return "object"


def _line_kinds(path: Path) -> list[str | None]:
    """For the first non-blank lines: ``record`` (a whole non-empty object), ``json`` (other whole
    JSON), or None. Whole lines are read: a line can be far longer than the head."""
    with open_text(path, errors="surrogateescape", newline=None) as f:
        return [_line_kind(line) for line in islice((line for line in f if line.strip()), LAYOUT_LINES)]


def _line_kind(line: str) -> str | None:
    if has_undecoded(line):
        return None
    try:
        value = loads(line)
    except TooDeep:
        return "json"  # whole, only nested too deep to be read as a record
    except ValueError:
        return None
    return "record" if isinstance(value, dict) and value else "json"


def iter_records(source: Source) -> Iterator[Record | Problem]:
    """Every JSON record of the file with its location; undecodable ones as Problems."""
    layout = json_layout(source.path, source.name)
    if layout == "array":
        yield from _array_records(source)
    elif layout == "lines":
        yield from _line_records(source)
    else:
        yield from _object_record(source)


def _array_records(source: Source) -> Iterator[Record | Problem]:
    count = 0
    try:
        with open_text(source.path, errors="surrogateescape") as f:
            for element in iter_json_array(f):
                location = f"{source.name} [{element.index}]"
                count = element.index + 1
                if isinstance(element, Broken):
                    yield Problem(location, element.message)
                    continue
                yield Record(element.index, location, element.value)
    except (EOFError, zlib.error, gzip.BadGzipFile):
        yield Problem(
            f"{source.name} [{count}]", "the compressed file is cut off or damaged here: the rest is not read"
        )


def _line_records(source: Source) -> Iterator[Record | Problem]:
    index = 0
    lineno = 0
    try:
        # surrogateescape: an undecodable byte costs only its own line. newline=None: old Mac files
        # end their lines with a lone \r (JSON text never holds a raw \r inside a string).
        with open_text(source.path, errors="surrogateescape", newline=None) as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                location = f"{source.name} line {lineno}"
                line = line.rstrip()  # so that errors point into the line, not past its newline
                # Every non-blank line counts as a record, read or not, as every element of an array
                # does: ids derived from the position (``<stem>:<index>``) must not shift when a line
                # before them is broken (or repaired).
                index += 1
                if has_undecoded(line):
                    yield Problem(location, "not UTF-8 text")
                    continue
                try:
                    value = loads(line)
                except TooDeep:
                    yield Problem(location, TOO_DEEP)
                    continue
                except json.JSONDecodeError as exc:
                    hint = " (the line looks cut off)" if exc.pos >= len(line) else ""
                    yield Problem(location, f"not valid JSON: {exc.msg} at column {exc.colno}{hint}")
                    continue
                yield Record(index - 1, location, value)
    except (EOFError, zlib.error, gzip.BadGzipFile):
        yield Problem(
            f"{source.name} line {lineno + 1}", "the compressed file is cut off or damaged here: the rest is not read"
        )


def _object_record(source: Source) -> Iterator[Record | Problem]:
    # A single pretty-printed object (one conversation): small by nature, so read it whole.
    try:
        with open_text(source.path) as f:
            value = loads(f.read())
    except TooDeep:
        raise InputError(
            TOO_DEEP.replace(": skipped", ": not read"), path=str(source.path), location=source.name
        ) from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            path=str(source.path),
            location=source.name,
        ) from None
    except UnicodeDecodeError as exc:
        raise InputError(
            f"is not UTF-8 text (undecodable byte at offset {exc.start})", path=str(source.path), location=source.name
        ) from None
    yield Record(0, source.name, value)


def read_record_file(source: Source, parse: Parser) -> Iterator[Item]:
    """Read a JSON/JSONL file of records with ``parse`` (one record -> one Conversation)."""
    for record in iter_records(source):
        if isinstance(record, Problem):
            yield record
            continue
        yield parse_one(record.value, RecordContext(source, record.index), record.location, parse)


def parse_one(value: Any, context: RecordContext, location: str, parse: Parser) -> Item:
    """One record through ``parse``; whatever is wrong with it becomes a Problem at ``location``."""
    if not isinstance(value, dict):
        return Problem(location, f"expected a JSON object, found {json_type(value)}")
    try:
        conversation = parse(value, context)
        if context.source.metadata_fn is not None:
            conversation.metadata.update(context.source.metadata_fn(value))
    except RecordError as exc:
        return Problem(location, str(exc))
    except ValidationError as exc:
        return Problem(location, describe_validation_error(exc))
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # Real exports hold shapes nobody documented; one odd record must not stop the file.
        return Problem(location, f"unexpected structure ({type(exc).__name__}: {exc})")
    return Loaded(location, conversation)


def describe_validation_error(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}" if where else f"{first['msg']}{more}"


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


# ---------------------------------------------------------------------------------------------
# Small conversions shared by the formats


# Record values quoted in messages are cut to about this many characters: one bad value (a megabyte
# of text where a role should be) must not turn a one-line message into a megabyte.
SHOWN_CHARS = 80


def shown(value: Any) -> str:
    """``repr(value)`` for a message, shortened when long."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(text):,} characters)"


def require(record: dict, key: str, kind: type) -> Any:
    """``record[key]``, checked to be of ``kind``; a RecordError that names the key otherwise."""
    if key not in record or record[key] is None:
        raise RecordError(f"{key!r} is missing")
    value = record[key]
    if not isinstance(value, kind):
        raise RecordError(f"{key!r} should be {json_type(kind())}, found {json_type(value)}")
    return value


def mapping(value: Any) -> dict:
    """``value`` when it is an object, else an empty one (logged fields are often null)."""
    return value if isinstance(value, dict) else {}


def first_present(record: dict, keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = record.get(key)
        if value is not None and value != "":
            return value
    return None


def parse_time(value: Any) -> datetime | None:
    """A datetime from ISO 8601 text (``Z`` allowed), unix seconds/milliseconds, or a datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, bool):
        raise RecordError(f"{shown(value)} is not a time")
    if isinstance(value, (int, float)):
        return _from_unix(float(value))
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            pass
        else:
            return _from_unix(seconds)
        try:
            return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise RecordError(f"{shown(value)} is not a time (expected ISO 8601 or unix seconds)") from None
    raise RecordError(f"{json_type(value)} is not a time")


def _from_unix(seconds: float) -> datetime:
    if seconds > 1e11:  # milliseconds: 1e11 seconds would be the year 5138
        seconds /= 1000
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        # Past the years 1-9999, inf or NaN. fromtimestamp raises any of the three (OSError for
        # EOVERFLOW, which the loader would take for a file it cannot read): one bad time costs its record.
        raise RecordError(f"{shown(seconds)} is out of range for a unix time") from None


def iso_time(value: Any) -> str | None:
    """A time for metadata: ISO 8601 text (metadata must stay plain JSON)."""
    parsed = parse_time(value)
    return parsed.isoformat() if parsed else None


# Names that chat formats use for each speaker, lower-cased. "function_call" is an assistant's
# call in LLaMA-Factory's ShareGPT; "observation"/"function" carry a tool's answer.
ROLE_ALIASES: dict[str, Role] = {
    **dict.fromkeys(["user", "human", "prompter", "customer", "client", "person", "you"], "user"),
    **dict.fromkeys(
        [
            "assistant",
            "gpt",
            "chatgpt",
            "bing",
            "bard",
            "model",
            "bot",
            "ai",
            "claude",
            "gemini",
            "agent",
            "function_call",
        ],
        "assistant",
    ),
    **dict.fromkeys(["system", "developer", "instruction"], "system"),
    **dict.fromkeys(
        ["tool", "function", "observation", "function_response", "tool_response", "ipython", "tool_result"], "tool"
    ),
}


def normalise_role(value: Any, where: str = "") -> Role:
    role = ROLE_ALIASES.get(str(value).strip().lower()) if isinstance(value, str) else None
    if role is None:
        prefix = f"{where}: " if where else ""
        raise RecordError(
            f"{prefix}unknown role {shown(value)} (known: user, assistant, system, tool and their usual aliases)"
        )
    return role


def chat_id_from(record: dict, keys: tuple[str, ...], context: RecordContext) -> str:
    """The record's own id from the first key present, else ``<file stem>:<index>``."""
    value = first_present(record, keys)
    return str(value) if value is not None else context.default_id()


def plain(value: Any) -> Any:
    """A value as plain JSON for metadata (Parquet and HF rows hold dates, bytes, numpy scalars)."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return plain(value.item())
    if isinstance(value, bytes):
        return f"[{len(value)} bytes]"
    return str(value)
