"""A per-conversation outcome table (feedback, revenue, cost, resolved...) read and checked.

The table is a CSV or Parquet file keyed by conversation id, or metadata fields of the run's
own conversations. Every column becomes typed: booleans (``true``/``false``/``yes``/``no`` in
text), numbers, or it is left out with the reason (text, dates). A bad value fails with one line
naming the file, the row and the fix; ids the run does not know are counted, not fatal.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from kura.errors import InputError

#: Where the conversation id is looked for, in this order (any case), unless --key names it.
KEY_CANDIDATES = ("chat_id", "conversation_id", "id")
_TRUE = {"true", "yes"}
_FALSE = {"false", "no"}
#: A text column with at least this share of numbers is a numeric column with typos.
_MOSTLY_NUMBERS = 0.5


@dataclass
class OutcomeTable:
    """Outcome columns keyed by conversation id, as read from ``source``."""

    source: str
    ids: list[str]
    columns: dict[str, pa.Array]
    #: Column -> why it is not an outcome (text, dates, empty).
    ignored: dict[str, str] = field(default_factory=dict)


def read_outcome_file(path: str | Path, key: str | None = None) -> OutcomeTable:
    """Read a CSV (``.csv``, ``.tsv``) or Parquet file of outcomes; ``key`` names the id column."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file: give a CSV or Parquet table of outcomes", path=str(path))
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        table, where = _read_csv(path, key, delimiter="\t" if suffix == ".tsv" else ","), _csv_line(path)
    elif suffix in (".parquet", ".pq"):
        table, where = _read_parquet(path), _parquet_row(path)
    else:
        raise InputError(
            f"unknown table format {suffix or '(no extension)'!r}: give a .csv, .tsv or .parquet file", path=str(path)
        )
    key_column = _key_column(table.column_names, key, path.name)
    ids = _ids(table.column(key_column), key_column, where)
    columns: dict[str, pa.Array] = {}
    ignored: dict[str, str] = {}
    for name in table.column_names:
        if name == key_column:
            continue
        typed, reason = type_column(table.column(name).combine_chunks(), name, where)
        if typed is None:
            ignored[name] = reason
        else:
            columns[name] = typed
    return OutcomeTable(path.name, ids, columns, ignored)


def read_metadata_fields(
    chat_ids: Sequence[str], metadata: Sequence[str | None], fields: Sequence[str]
) -> OutcomeTable:
    """Outcomes taken from the run's own conversations: ``fields`` of their metadata."""
    rows = [json.loads(m) if m else {} for m in metadata]
    columns: dict[str, pa.Array] = {}
    ignored: dict[str, str] = {}
    for name in fields:
        values = [r.get(name) if isinstance(r, dict) else None for r in rows]
        if all(v is None for v in values):
            known = sorted({k for r in rows if isinstance(r, dict) for k in r})
            raise InputError(
                f"no conversation has a metadata field {name!r}: choose one of {', '.join(known[:12]) or '(none)'}",
                path="conversations.parquet",
            )
        array = _python_array(values)

        def where(i: int) -> str:
            return f"conversations.parquet, metadata of {chat_ids[i]!r}"

        typed, reason = type_column(array, name, where)
        if typed is None:
            ignored[name] = reason
        else:
            columns[name] = typed
    return OutcomeTable("metadata", list(chat_ids), columns, ignored)


# -- reading -----------------------------------------------------------------------------------------
def _read_csv(path: Path, key: str | None, delimiter: str) -> pa.Table:
    import pyarrow.csv as pcsv

    # Ids stay text: an inferred integer would lose leading zeros ("007" is not "7").
    as_text = {name: pa.string() for name in (*KEY_CANDIDATES, *(c.upper() for c in KEY_CANDIDATES), key) if name}
    try:
        return pcsv.read_csv(
            path,
            parse_options=pcsv.ParseOptions(delimiter=delimiter),
            convert_options=pcsv.ConvertOptions(column_types=as_text, strings_can_be_null=True),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise InputError(
            f"cannot be read as a table ({_first_line(exc)}): save it as UTF-8 CSV with one header line and "
            "the same number of columns on every line",
            path=str(path),
        ) from None


def _read_parquet(path: Path) -> pa.Table:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"cannot be read as Parquet ({_first_line(exc)}): write it again", path=str(path)) from None


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _csv_line(path: Path) -> Callable[[int], str]:
    return lambda i: f"{path.name} line {i + 2}"  # line 1 is the header


def _parquet_row(path: Path) -> Callable[[int], str]:
    return lambda i: f"{path.name} row {i + 1}"


def _key_column(names: list[str], key: str | None, file: str) -> str:
    if key is not None:
        if key not in names:
            raise InputError(f"has no column {key!r} (given by --key); its columns: {', '.join(names)}", path=file)
        return key
    lowered = {n.lower(): n for n in names}
    for candidate in KEY_CANDIDATES:
        if candidate in lowered:
            return lowered[candidate]
    raise InputError(
        f"has no conversation id column (looked for {', '.join(KEY_CANDIDATES)}; its columns: {', '.join(names)}): "
        "name it with --key COLUMN",
        path=file,
    )


def _ids(column: pa.ChunkedArray, name: str, where: Callable[[int], str]) -> list[str]:
    ids = pc.cast(column.combine_chunks(), pa.string()).to_pylist()
    first: dict[str, int] = {}
    for i, value in enumerate(ids):
        if value is None or not value.strip():
            raise InputError(f"the id column {name!r} is empty: give every row its conversation id", location=where(i))
        if value in first:
            raise InputError(
                f"conversation id {value!r} appears twice (also {where(first[value])}): keep one row per conversation",
                location=where(i),
            )
        first[value] = i
    return ids


# -- typing ------------------------------------------------------------------------------------------
def type_column(array: pa.Array, name: str, where: Callable[[int], str]) -> tuple[pa.Array | None, str]:
    """The column as booleans or float64/int64 numbers; or None and why it is not an outcome."""
    t = array.type
    if pa.types.is_null(t) or array.null_count == len(array):
        return None, "empty"
    if pa.types.is_boolean(t):
        return array, ""
    if pa.types.is_integer(t):
        return pc.cast(array, pa.int64()), ""
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        numbers = pc.cast(array, pa.float64())
        _check_finite(numbers, name, where)
        return pc.if_else(pc.is_nan(numbers), pa.scalar(None, pa.float64()), numbers), ""  # NaN: not measured
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return None, "dates, not an outcome (a trend over time is `kura trends`)"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return _type_text(array.to_pylist(), name, where)
    return None, f"values of type {t}, not numbers or true/false"


def _type_text(values: list[str | None], name: str, where: Callable[[int], str]) -> tuple[pa.Array | None, str]:
    present = [(i, v.strip()) for i, v in enumerate(values) if v is not None and v.strip()]
    if not present:
        return None, "empty"
    words = {v.lower() for _, v in present}
    if words <= _TRUE | _FALSE:
        return pa.array([None if v is None or not v.strip() else v.strip().lower() in _TRUE for v in values]), ""
    numbers: list[float | None] = [None] * len(values)
    bad: list[int] = []
    for i, v in present:
        try:
            numbers[i] = float(v)
        except ValueError:
            bad.append(i)
    if len(bad) > (1 - _MOSTLY_NUMBERS) * len(present):
        return None, "text, not numbers or true/false"
    i = bad[0]
    raise InputError(
        f"{name}={values[i]!r} is not a number: write plain numbers (3.5, 1200) or leave the cell empty",
        location=where(i),
    )


def _check_finite(numbers: pa.Array, name: str, where: Callable[[int], str]) -> None:
    values = numbers.to_numpy(zero_copy_only=False)
    for i in (i for i, v in enumerate(values) if not math.isnan(v) and not math.isfinite(v)):
        raise InputError(f"{name}={values[i]} is not a finite number: leave the cell empty instead", location=where(i))


def _python_array(values: list[object]) -> pa.Array:
    """Metadata values as one Arrow array: numbers and booleans typed, anything mixed as text."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.array(values, pa.bool_())
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return pa.array(values, pa.float64())
    return pa.array([None if v is None else v if isinstance(v, str) else json.dumps(v) for v in values], pa.string())
