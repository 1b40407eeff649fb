"""Facets and metadata as compact columns the page can filter, count and colour by.

Every per-conversation field becomes typed arrays in ``summaries.jsonl`` order (a few bytes a
conversation per field, not one JSON object per conversation), in the narrowest type that holds
them; :mod:`kura.server.packed` sends them as one binary body or base64 text:

- ``category``: ``codes``, one per conversation (0 = not set, ``i + 1`` = ``values[i]``).
- ``multi``: lists (languages, assistant errors): ``lengths`` per conversation and the flat
  ``codes`` of every list, one after the other.
- ``number`` / ``date``: ``numbers`` with NaN for not set (dates in milliseconds since 1970);
  float32 when that loses nothing (scores, counts), else float64.

The page does all filtering and counting over these arrays, so the served app and the static
report share one implementation (web/run.js). Columns arrive as Arrow arrays and are encoded
with Arrow's compute functions, so 100,000 conversations take a fraction of a second; values
of mixed types (a key that is text in one conversation and a number in another) go through
the slower Python path.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Clio's facets: (column in conversations.parquet, label, kind, needs a language model).
FACETS: list[tuple[str, str, str, bool]] = [
    ("languages", "Languages", "multi", False),
    ("topic", "Topic", "category", True),
    ("task", "Task", "category", True),
    ("concerning_score", "Concerning score", "number", True),
    ("user_frustration", "User frustration", "number", True),
    ("assistant_errors", "Assistant errors", "multi", True),
]

#: A category keeps its most frequent values; the rest share one "other values" code, which
#: bounds the payload when a field is nearly free text (assistant errors, titles).
MAX_VALUES = 2000

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$")


@dataclass
class Field:
    """One filterable field: its schema for the page and its encoded column."""

    key: str
    label: str
    kind: str  # category | multi | number | date
    source: str  # facet | metadata | conversation
    values: list[str] = field(default_factory=list)
    other: bool = False  # the last entry of ``values`` stands for every value beyond MAX_VALUES
    present: int = 0  # conversations where the field is set
    needs_llm: bool = False
    column: dict[str, np.ndarray] = field(default_factory=dict)

    def schema(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "kind": self.kind,
            "source": self.source,
            "values": self.values,
            "other": self.other,
            "present": self.present,
            "needs_llm": self.needs_llm,
        }


def b64(array: np.ndarray) -> str:
    """Little-endian bytes of ``array`` as base64 (what the page decodes into a typed array)."""
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def code_array(codes: np.ndarray, size: int) -> np.ndarray:
    """Codes (0..size) in the narrowest unsigned type that holds ``size``."""
    for dtype, limit in (("<u1", 0xFF), ("<u2", 0xFFFF)):
        if size <= limit:
            return np.asarray(codes, dtype=dtype)
    return np.asarray(codes, dtype="<u4")


def number_array(numbers: np.ndarray) -> np.ndarray:
    """float32 when every value survives the trip (scores, counts: half the bytes), else float64."""
    narrow = numbers.astype("<f4")
    if np.array_equal(narrow.astype("<f8"), numbers, equal_nan=True):
        return narrow
    return numbers.astype("<f8")


def label_of(key: str) -> str:
    return key.replace("_", " ").strip().capitalize() or key


# -- categories -------------------------------------------------------------------------------------
def _as_text(array: pa.Array) -> pa.Array:
    """Strings, trimmed; empty text counts as not set; booleans read true/false."""
    if pa.types.is_boolean(array.type):
        array = pc.if_else(array, "true", "false")
    elif not (pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        array = pc.cast(array, pa.string())
    array = pc.utf8_trim_whitespace(array)
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, array.type), array)


def _dictionary(array: pa.Array) -> tuple[list[str], np.ndarray, bool]:
    """Values by frequency (ties by name), capped at MAX_VALUES, and a code (0 = not set) per item."""
    counted = pc.value_counts(array.drop_null())
    values = counted.field("values").to_pylist()
    counts = counted.field("counts").to_numpy()
    ranked = sorted(range(len(values)), key=lambda i: (-counts[i], values[i]))
    other = len(ranked) > MAX_VALUES
    kept = [values[i] for i in ranked[: MAX_VALUES - 1 if other else MAX_VALUES]]
    index = pc.index_in(array, value_set=pa.array(kept, type=array.type))
    codes = index.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
    if other:
        codes[(codes == 0) & array.is_valid().to_numpy(zero_copy_only=False)] = len(kept) + 1
        kept.append("(other values)")
    return kept, codes, other


def encode_category(f: Field, array: pa.Array) -> Field:
    f.values, codes, f.other = _dictionary(_as_text(array))
    f.present = int(np.count_nonzero(codes))
    f.column = {"codes": code_array(codes, len(f.values))}
    return f


def encode_multi(f: Field, array: pa.Array) -> Field:
    """Lists: a length per conversation and one flat array of value codes."""
    if not pa.types.is_list(array.type) and not pa.types.is_large_list(array.type):
        raise TypeError(f"{f.key}: expected lists, got {array.type}")
    offsets = array.offsets.to_numpy().astype(np.int64)
    offsets = offsets - offsets[0]
    f.values, codes, f.other = _dictionary(_as_text(pc.list_flatten(array)))
    # Null lists may still span items in Arrow; the offsets decide, so empty them explicitly.
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    if not valid.all():
        lengths = np.where(valid, np.diff(offsets), 0)
        keep = np.repeat(valid, np.diff(offsets))
        codes = codes[keep]
        offsets = np.concatenate([[0], np.cumsum(lengths)])
    positive = np.concatenate([[0], np.cumsum(codes > 0)])
    f.present = int(np.count_nonzero(positive[offsets[1:]] - positive[offsets[:-1]]))
    lengths = np.diff(offsets)
    f.column = {"lengths": code_array(lengths, int(lengths.max(initial=0))), "codes": code_array(codes, len(f.values))}
    return f


# -- numbers and dates ------------------------------------------------------------------------------------
def encode_number(f: Field, array: pa.Array) -> Field:
    numbers = pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False).astype("<f8")
    numbers[~np.isfinite(numbers)] = np.nan
    f.present = int(np.count_nonzero(~np.isnan(numbers)))
    f.column = {"numbers": number_array(numbers)}
    return f


def parse_date_ms(value: Any) -> float:
    """ISO 8601 text or a datetime as milliseconds since 1970 (UTC when no zone is given)."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return math.nan
    else:
        return math.nan
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp() * 1000.0


def _dates_ms(values: pa.Array) -> np.ndarray:
    """Milliseconds since 1970 (NaN when not a date): Arrow's parser first, Python's for the rest."""
    if pa.types.is_date(values.type):
        values = pc.cast(values, pa.timestamp("ms"))
    if pa.types.is_timestamp(values.type):  # in its own unit: a cast to ms would refuse microseconds
        per_ms = {"s": 1e-3, "ms": 1.0, "us": 1e3, "ns": 1e6}[values.type.unit]
        return pc.divide(pc.cast(pc.cast(values, pa.int64()), pa.float64()), per_ms).to_numpy(zero_copy_only=False)
    for target in (pa.timestamp("ms", tz="UTC"), pa.timestamp("ms")):  # with a zone, then without (UTC)
        try:
            return _dates_ms(pc.cast(values, target))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
    return np.array([parse_date_ms(v) for v in values.to_pylist()], dtype="<f8")


def encode_date(f: Field, values: pa.Array) -> Field:
    stamps = _dates_ms(values).astype("<f8")
    f.present = int(np.count_nonzero(~np.isnan(stamps)))
    f.column = {"numbers": stamps}
    return f


def _is_dates(array: pa.Array) -> bool:
    present = array.drop_null()
    return len(present) > 0 and all(_ISO_DATE.match(v.strip()) for v in present.to_pylist())


# -- choosing the kind -----------------------------------------------------------------------------------
def _free_text(array: pa.Array) -> bool:
    """Identifiers, titles, free text: nearly one value each, searchable but no use as a chart."""
    text = _as_text(array).drop_null()
    return len(text) > 200 and len(pc.unique(text)) > 0.5 * len(text)


def encode_arrow(f: Field, array: pa.Array) -> Field | None:
    """Encode a typed column; None when it makes no useful breakdown (free text, nested values)."""
    t = array.type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        items = t.value_type
        if pa.types.is_nested(items):
            return None
        return encode_multi(replace_kind(f, "multi"), array)
    if pa.types.is_boolean(t):
        return encode_category(replace_kind(f, "category"), array)
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return encode_number(replace_kind(f, "number"), array)
    if pa.types.is_timestamp(t) or pa.types.is_date(t):
        return encode_date(replace_kind(f, "date"), array)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        if _is_dates(array):
            return encode_date(replace_kind(f, "date"), array)
        if f.source != "facet" and _free_text(array):
            return None
        return encode_category(replace_kind(f, "category"), array)
    if pa.types.is_null(t):
        return f if f.source == "facet" else None
    return encode_python(f, array.to_pylist())


def replace_kind(f: Field, kind: str) -> Field:
    f.kind = kind
    return f


def encode_python(f: Field, values: list[Any]) -> Field | None:
    """Values of mixed or nested types: numbers stay numbers when all are; else their text."""
    present = [v for v in values if v is not None and v != ""]
    if not present:
        return None
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return encode_number(replace_kind(f, "number"), pa.array(values, type=pa.float64(), from_pandas=True))
    if all(isinstance(v, list) for v in present):
        lists = [[_text(i) for i in v] if isinstance(v, list) else None for v in values]
        return encode_multi(replace_kind(f, "multi"), pa.array(lists, type=pa.list_(pa.string())))
    texts = pa.array([_text(v) for v in values], type=pa.string())
    if f.source != "facet" and _free_text(texts):
        return None
    return encode_category(replace_kind(f, "category"), texts)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


# -- whole tables ---------------------------------------------------------------------------------------------
def facet_fields(table: pa.Table) -> list[Field]:
    out = []
    for key, label, kind, needs_llm in FACETS:
        if key in table.column_names:
            f = encode_arrow(Field(key, label, kind, "facet", needs_llm=needs_llm), table.column(key).combine_chunks())
            if f is not None:
                out.append(f)
    return out


def _metadata_columns(texts: Sequence[str | None]) -> dict[str, Any]:
    """Each metadata key as a column: an Arrow array, or a Python list when its types are mixed."""
    import io

    import pyarrow.json as pj

    data = "\n".join(t if t and t.strip() else "{}" for t in texts).encode()
    try:
        table = pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(block_size=max(1 << 20, len(data) + 1)))
        return {k: table.column(k).combine_chunks() for k in table.column_names}
    except pa.ArrowInvalid:  # some key holds text in one conversation and an object in another
        rows = [json.loads(t) if t else {} for t in texts]
    columns: dict[str, Any] = {}
    for key in dict.fromkeys(k for r in rows for k in r):
        values = [r.get(key) for r in rows]
        try:
            columns[key] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            columns[key] = values
    return columns


def metadata_fields(texts: Sequence[str | None], *, reserved: set[str]) -> list[Field]:
    """One field per metadata key that makes a useful breakdown, most widely set first."""
    columns = _metadata_columns(texts)

    def coverage(key: str) -> int:
        column = columns[key]
        return len(column) - column.null_count if isinstance(column, pa.Array) else sum(v is not None for v in column)

    out = []
    for key in sorted(columns, key=lambda k: (-coverage(k), k)):
        f = Field(key if key not in reserved else f"metadata.{key}", label_of(key), "category", "metadata")
        column = columns[key]
        encoded = encode_arrow(f, column) if isinstance(column, pa.Array) else encode_python(f, column)
        if encoded is not None and encoded.present:
            out.append(encoded)
    return out


def outcome_fields(table: pa.Table, chat_ids: Sequence[str], *, reserved: set[str]) -> list[Field]:
    """The columns of ``outcomes.parquet`` (kura outcomes), in ``chat_ids`` order, to filter and colour by."""
    rows = pc.index_in(pa.array(chat_ids, pa.string()), value_set=table.column("chat_id").combine_chunks())
    out = []
    for key in table.column_names:
        if key == "chat_id":
            continue
        f = Field(key if key not in reserved else f"outcome.{key}", label_of(key), "number", "outcome")
        encoded = encode_arrow(f, table.column(key).combine_chunks().take(rows))
        if encoded is not None and encoded.present:
            out.append(encoded)
    return out
