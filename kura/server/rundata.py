"""One finished run held in memory for the explorer, and the payloads the page reads from it.

Loading reads only what the first map needs: the cluster tree and three columns of
``conversations.parquet`` (position and base cluster: 70 ms for a million conversations).
Everything else is made on first use, once, and kept: the whole table as Arrow (rows become
Python only a page at a time), the fields encoded with Arrow, the line offsets in
``conversations.jsonl`` (so opening a conversation is one seek) and the search index. After
loading, :meth:`prepare` makes them in that order in the background, while the page draws.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kura.errors import InputError
from kura.server import packed
from kura.server.fields import (
    FACETS,
    Field,
    code_array,
    encode_date,
    facet_fields,
    metadata_fields,
    outcome_fields,
)
from kura.server.privacy import STRICT, RawTextWithheld, privacy_report
from kura.server.search import TextIndex, parse_query
from kura.store import artifacts
from kura.store.conversation_index import index_conversations
from kura.types import Cluster
from kura.types.tree import ClusterTree

#: The columns of a row the page shows in lists and the conversation view.
ROW_FIELDS = (
    "chat_id",
    "summary",
    "request",
    "topic",
    "task",
    "languages",
    "concerning_score",
    "user_frustration",
    "assistant_errors",
    "cluster_id",
)
#: Seconds :meth:`RunData.prepare` waits for the page to fetch the map before starting anyway.
MAP_FIRST_SECONDS = 3.0
#: Columns of conversations.parquet the server never reads (the tree gives them).
UNUSED = ("top_cluster_id", "top_cluster")
T = TypeVar("T")
REQUIRED = tuple(
    a.file for a in (artifacts.SIDECAR, artifacts.CONVERSATION_TABLE, artifacts.CLUSTER_TABLE, artifacts.CONVERSATIONS)
)


def missing_files(path: Path) -> list[str]:
    return [name for name in REQUIRED if not (path / name).is_file()]


def _numbers(array: pa.Array, dtype: str, null: float) -> np.ndarray:
    """Fixed-width numbers as NumPy, ``null`` where null. Without nulls, a view of Arrow's buffer:
    Arrow's to_numpy imports pandas the first time (half a second before the first map)."""
    if array.null_count:
        values = array.to_numpy(zero_copy_only=False)
        return np.where(array.is_null().to_numpy(zero_copy_only=False), null, np.nan_to_num(values)).astype(dtype)
    raw = np.dtype(array.type.to_pandas_dtype())
    view = np.frombuffer(array.buffers()[1], dtype=raw, count=len(array), offset=array.offset * raw.itemsize)
    return view.astype(dtype)


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


class RunData:
    """A run directory's explorer data. Build it with :meth:`load`; it is read-only afterwards."""

    meta: dict[str, Any]
    clusters: dict[str, list[Any]]
    cluster_index: dict[str, int]
    #: Each conversation's base cluster (an index into ``clusters``; -1: none) and map position.
    base: np.ndarray
    x: np.ndarray
    y: np.ndarray
    #: privacy.json (or the profile run.json records): see :mod:`kura.server.privacy`.
    privacy: dict[str, Any]

    def __init__(self, name: str, path: Path, *, allow_raw_text: bool = False):
        self.name = name
        self.path = path
        self.allow_raw_text = allow_raw_text
        self._made: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._points_sent = threading.Event()

    def _once(self, key: str, make: Callable[[], T]) -> T:
        """``make()``, called once per run however many threads ask at the same time."""
        if key not in self._made:
            with self._locks_lock:
                lock = self._locks.setdefault(key, threading.Lock())
            with lock:
                if key not in self._made:
                    self._made[key] = make()
                    # Arrow keeps freed blocks for reuse; what making this left over goes back now.
                    pa.default_memory_pool().release_unused()
        return self._made[key]

    @classmethod
    def load(cls, name: str, path: Path, *, allow_raw_text: bool = False) -> RunData:
        """``allow_raw_text``: serve the messages of a ``--privacy strict`` run too (``kura serve
        --allow-raw-text``); runs made with ``--privacy off`` always serve them."""
        import pyarrow.parquet as pq

        missing = missing_files(path)
        if missing:
            raise InputError(
                f"the run is not finished ({', '.join(missing)} missing): run `kura run` on it again", path=str(path)
            )
        run = cls(name, path, allow_raw_text=allow_raw_text)
        run.meta = json.loads((path / artifacts.SIDECAR.file).read_text(encoding="utf-8"))
        run.privacy = privacy_report(path, run.meta)
        # ParquetFile, not read_table: that one imports pyarrow.dataset and pandas (0.7 s at start-up).
        clusters = pq.ParquetFile(path / artifacts.CLUSTER_TABLE.file).read()
        run.clusters = clusters.to_pydict()
        run.cluster_index = {cid: i for i, cid in enumerate(run.clusters["id"])}
        # Read as a dictionary, the base cluster ids cost one lookup per cluster, not per row.
        table = pq.ParquetFile(path / artifacts.CONVERSATION_TABLE.file, read_dictionary=["cluster_id"])
        where = table.read(columns=["x", "y", "cluster_id"])
        ids = where.column("cluster_id").combine_chunks()
        if not pa.types.is_dictionary(ids.type):  # an empty table
            ids = pc.dictionary_encode(ids)
        # No Arrow values from Python ones here (pa.array, pa.scalar, fill_null(-1)): the first
        # such call imports pandas, another half second before the first map.
        # (As text: a column no conversation has a cluster in is of Arrow's null type.)
        known = pc.index_in(
            ids.dictionary.cast(pa.string()), value_set=clusters.column("id").combine_chunks().cast(pa.string())
        )
        known, codes = _numbers(known, "int64", -1), _numbers(ids.indices, "int64", -1)
        run.base = np.where(codes >= 0, known[np.maximum(codes, 0)] if len(known) else -1, -1)
        run.x, run.y = (_numbers(where.column(k).combine_chunks(), "<f4", np.nan) for k in ("x", "y"))
        return run

    def prepare(self) -> None:
        """Make in advance what the page asks for after the first map, most urgent first; from
        when the map's points have been sent (or a few seconds after loading, if nobody asks),
        so the work never competes with the first map for the interpreter."""
        self._points_sent.wait(MAP_FIRST_SECONDS)
        steps = (
            lambda: self.fields,
            lambda: self.table,
            lambda: self.row_of,
            lambda: self.lines,
            lambda: self.text_index,
        )
        for step in steps:
            try:
                step()
            except Exception:  # a damaged file: the request that needs the step makes it again, and says why
                return

    # -- made on first use -----------------------------------------------------------------------
    @property
    def table(self) -> pa.Table:
        """``conversations.parquet``, as Arrow."""

        def read() -> pa.Table:
            import pyarrow.parquet as pq

            file = pq.ParquetFile(self.path / artifacts.CONVERSATION_TABLE.file)
            return file.read(columns=[c for c in file.schema_arrow.names if c not in UNUSED])

        return self._once("table", read)

    @property
    def chat_ids(self) -> list[str]:
        return self._once("chat_ids", lambda: self.table.column("chat_id").to_pylist())

    @property
    def row_of(self) -> dict[str, int]:
        return self._once("row_of", lambda: {chat_id: i for i, chat_id in enumerate(self.chat_ids)})

    @property
    def fields(self) -> list[Field]:
        return self._once("fields", self._fields)

    @property
    def lines(self) -> ConversationLines:
        """Where each conversation is in conversations.jsonl, in arrays by row (a few bytes each,
        where dictionaries by chat id took 300 bytes)."""
        return self._once("lines", lambda: ConversationLines.of(self))

    @property
    def created_at(self) -> dict[str, str | None]:
        """Creation times as written in conversations.jsonl, by chat id (the static report; runs
        whose conversations.parquet has no created_at column)."""
        return self._once(
            "created_at", lambda: index_conversations(self.path / artifacts.CONVERSATIONS.file).created_at
        )

    def _created_ms(self, table: pa.Table) -> np.ndarray | None:
        """Creation times in ms since 1970 (NaN: unknown) by row, from ``table`` (runs whose
        conversations.parquet has no such column: from conversations.jsonl); None when none is known."""
        if "created_at" in table.column_names:
            field = encode_date(Field("created_at", "", "date", ""), table.column("created_at").combine_chunks())
        else:
            texts = pa.array([self.created_at.get(c) for c in self.chat_ids], pa.string())
            field = encode_date(Field("created_at", "", "date", ""), texts)
        return field.column["numbers"] if field.present else None

    @property
    def size(self) -> int:
        return len(self.base)

    @property
    def strict(self) -> bool:
        return self.privacy["profile"] == STRICT

    @property
    def serves_raw_text(self) -> bool:
        """Whether messages may leave this process: the conversation view, search over them."""
        return not self.strict or self.allow_raw_text

    # -- conversations.jsonl ---------------------------------------------------------------------
    def conversation(self, chat_id: str) -> dict[str, Any] | None:
        """The conversation as loaded, with its summary row and cluster path; None if unknown.
        Raises :class:`RawTextWithheld` when this run's raw text is not served."""
        if not self.serves_raw_text:
            raise RawTextWithheld(self.name)
        where = self.lines.find(chat_id, self.row_of.get(chat_id))
        if where is None:
            return None
        with open(self.path / artifacts.CONVERSATIONS.file, "rb") as f:
            f.seek(where[0])
            record = json.loads(f.read(where[1]))
        row = self.row_of.get(chat_id)
        record["row"] = row
        record["summary"] = self.rows([row])[0] if row is not None else None
        record["cluster_path"] = self.table.column("cluster_path")[row].as_py() if row is not None else []
        return record

    def iter_conversations(self) -> Iterator[dict[str, Any]]:
        """Every conversation as loaded (raises :class:`RawTextWithheld` when not served)."""
        if not self.serves_raw_text:
            raise RawTextWithheld(self.name)
        with open(self.path / artifacts.CONVERSATIONS.file, "rb") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)

    # -- rows ------------------------------------------------------------------------------------
    def rows(self, numbers: Sequence[int]) -> list[dict[str, Any]]:
        """Summary rows (facets, metadata, creation time) by row number, in the order asked."""
        columns = [c for c in ROW_FIELDS if c in self.table.column_names] + ["metadata"]
        stamps = "created_at" in self.table.column_names  # else from conversations.jsonl (older runs)
        picked = (
            self.table.select(columns + ["created_at"] * stamps).take(pa.array(numbers, type=pa.int64())).to_pylist()
        )
        for number, row in zip(numbers, picked):
            row["row"] = int(number)
            row["metadata"] = json.loads(row["metadata"]) if row["metadata"] else {}
            row["created_at"] = _iso(row["created_at"]) if stamps else self.created_at.get(row["chat_id"])
        return picked

    def rows_in_cluster(self, cluster_id: str) -> np.ndarray:
        """Row numbers of the conversations anywhere under ``cluster_id``."""
        under = np.zeros(len(self.cluster_index) + 1, dtype=bool)  # the extra slot is "no cluster" (-1)
        under[[self.cluster_index[c] for c in self.tree.under(cluster_id)]] = True
        return np.flatnonzero(under[self.base])

    @cached_property
    def tree(self) -> ClusterTree[Cluster]:
        c = self.clusters
        return ClusterTree(
            Cluster(id=i, name=n, description="", slug="", chat_ids=[], parent_id=p)
            for i, n, p in zip(c["id"], c["name"], c["parent_id"])
        )

    # -- search ----------------------------------------------------------------------------------
    def search(self, query: str) -> np.ndarray:
        """A boolean mask over rows (see :mod:`kura.server.search`)."""
        if not parse_query(query):
            return np.ones(self.size, dtype=bool)
        return self.text_index.search(query)

    @property
    def text_index(self) -> TextIndex:
        return self._once("text_index", lambda: TextIndex(self._searchable_texts()))

    def _searchable_texts(self) -> pa.Array:
        """Per row: chat id, summary, request, topic, task and (when served) the messages."""
        columns = [self.table.column("chat_id")]
        columns += [
            self.table.column(k) for k in ("summary", "request", "topic", "task") if k in self.table.column_names
        ]
        # Which rows match a word says what the text holds: no raw text, no search over it.
        if self.serves_raw_text:
            ids, texts = self._message_texts()
            rows = pc.index_in(self.table.column("chat_id"), value_set=ids)
            columns.append(texts.take(rows))
        columns = [pc.fill_null(c.cast(pa.large_string()), "") for c in columns]
        return pc.binary_join_element_wise(*columns, pa.scalar("\n", pa.large_string()))

    def _message_texts(self) -> tuple[pa.Array, pa.Array]:
        """Chat ids and their messages' text (one string each), from conversations.jsonl: read in
        blocks by Arrow (seconds for a million, a block in memory at a time), or line by line in
        Python when a line is not as Kura writes it."""
        import pyarrow.json as pj

        message = pa.struct([("content", pa.string())])
        schema = pa.schema([("chat_id", pa.string()), ("messages", pa.list_(message))])
        ids: list[pa.Array] = []
        texts: list[pa.Array] = []
        try:
            reader = pj.open_json(
                self.path / artifacts.CONVERSATIONS.file,
                read_options=pj.ReadOptions(block_size=1 << 24),
                parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore"),
            )
            for batch in reader:
                messages = batch.column("messages")
                content = pc.fill_null(pc.struct_field(messages.values, "content"), "")
                lists = pa.ListArray.from_arrays(messages.offsets, content, mask=messages.is_null())
                ids.append(batch.column("chat_id"))
                texts.append(pc.fill_null(pc.binary_join(lists, "\n"), ""))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            records = list(self.iter_conversations())
            ids = [pa.array([r["chat_id"] for r in records], pa.string())]
            joined = ["\n".join(m.get("content") or "" for m in r.get("messages", [])) for r in records]
            texts = [pa.array(joined, pa.string())]
        if not ids:
            return pa.array([], pa.string()), pa.array([], pa.string())
        return pa.concat_arrays(ids), pa.concat_arrays(texts)

    # -- fields ----------------------------------------------------------------------------------
    def _fields(self) -> list[Field]:
        import pyarrow.parquet as pq

        # Only the columns fields come from (a third of the table at a million, the rest is
        # text), unless the whole table is already here: the filters need not wait for it.
        table = self._made.get("table")
        if table is None:
            file = pq.ParquetFile(self.path / artifacts.CONVERSATION_TABLE.file)
            used = {key for key, *_ in FACETS} | {"metadata", "created_at"}
            table = file.read(columns=[c for c in file.schema_arrow.names if c in used])
        fields = facet_fields(table)
        reserved = {f.key for f in fields} | {"created_at"}
        fields += metadata_fields(table.column("metadata").to_pylist(), reserved=reserved)
        outcomes = self.path / artifacts.OUTCOMES.file
        if outcomes.exists():
            import pyarrow.parquet as pq

            fields += outcome_fields(pq.read_table(outcomes), self.chat_ids, reserved={f.key for f in fields})
        created = self._created_ms(table)
        if created is not None:
            fields.append(
                Field(
                    "created_at",
                    "Created",
                    "date",
                    "conversation",
                    present=int(np.count_nonzero(~np.isnan(created))),
                    column={"numbers": created},
                )
            )
        return fields

    # -- payloads --------------------------------------------------------------------------------
    def overview(self) -> dict[str, Any]:
        """The run and its cluster tree (``GET /api/runs/{run}``); the fields come with the columns."""
        c = self.clusters
        parent = [self.cluster_index.get(p, -1) if p else -1 for p in c["parent_id"]]
        return {
            "name": self.name,
            "size": self.size,
            "mode": self.meta.get("mode"),
            "created_at": self.meta.get("created_at"),
            "updated_at": self.meta.get("updated_at"),
            "settings": self.meta.get("settings", {}),
            "counts": self.meta.get("counts", {}),
            "inputs": [
                {k: i.get(k) for k in ("name", "format", "loaded", "skipped")} for i in self.meta.get("inputs", [])
            ],
            "clusters": {
                "id": c["id"],
                "name": c["name"],
                "description": c["description"],
                "parent": parent,
                "level": c["level"],
                "count": c["count"],
                "x": [_finite(v) for v in c["x"]],
                "y": [_finite(v) for v in c["y"]],
            },
            "privacy": self.privacy,
            "raw_text": self.serves_raw_text,
        }

    def overview_json(self) -> bytes:
        return self._once(
            "overview_json", lambda: json.dumps(self.overview(), ensure_ascii=False, separators=(",", ":")).encode()
        )

    def points(self) -> dict[str, Any]:
        """What the map draws: each conversation's position and base cluster (``len(clusters)``:
        none), as typed arrays (``GET /api/runs/{run}/points``)."""
        n_clusters = len(self.clusters["id"])
        return {
            "size": self.size,
            "x": self.x,
            "y": self.y,
            "cluster": code_array(np.where(self.base < 0, n_clusters, self.base), n_clusters),
        }

    def columns(self) -> dict[str, Any]:
        """The fields: their schema and typed columns (``GET /api/runs/{run}/columns``). Fields no
        conversation has (LLM facets of an extractive run) are in the schema but send no column."""
        return {
            "size": self.size,
            "schema": [f.schema() for f in self.fields],
            "fields": {f.key: f.column for f in self.fields if f.present},
        }

    def points_binary(self) -> bytes:
        return self._once("points_binary", lambda: packed.to_binary(self.points()))

    def points_sent(self) -> None:
        """The page has its map: background work may start (see :meth:`prepare`)."""
        self._points_sent.set()

    def columns_binary(self) -> bytes:
        return self._once("columns_binary", lambda: packed.to_binary(self.columns()))

    def columns_json(self) -> bytes:
        """Points and columns together as JSON text with base64 arrays (the static report)."""
        return packed.to_json({**self.points(), **self.columns()})


@dataclass(frozen=True)
class ConversationLines:
    """Byte offset and length of each row's line in conversations.jsonl (length -1: no line),
    and the few conversations that have a line but no row (they failed to be summarised)."""

    start: np.ndarray
    length: np.ndarray
    others: dict[str, tuple[int, int]]

    @classmethod
    def of(cls, run: RunData) -> ConversationLines:
        start = np.zeros(run.size, dtype=np.int64)
        length = np.full(run.size, -1, dtype=np.int32)
        others: dict[str, tuple[int, int]] = {}
        for chat_id, where in index_conversations(run.path / artifacts.CONVERSATIONS.file).offsets.items():
            row = run.row_of.get(chat_id)
            if row is None:
                others[chat_id] = where
            else:
                start[row], length[row] = where
        return cls(start, length, others)

    def find(self, chat_id: str, row: int | None) -> tuple[int, int] | None:
        if row is None:
            return self.others.get(chat_id)
        return (int(self.start[row]), int(self.length[row])) if self.length[row] >= 0 else None


def _iso(moment: datetime | None) -> str | None:
    """A creation time as ISO 8601 in UTC (conversations.parquet keeps them in UTC)."""
    if moment is None:
        return None
    text = moment.astimezone(timezone.utc).isoformat()
    return text.removesuffix("+00:00") + "Z"
