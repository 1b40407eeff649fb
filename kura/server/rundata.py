"""One finished run held in memory for the explorer, and the JSON the page reads from it.

Loading keeps ``conversations.parquet`` as an Arrow table (rows are turned into Python only a
page at a time), encodes the fields with Arrow, and scans ``conversations.jsonl`` once for line
offsets, so opening a conversation is one seek. The search index (all message text, lowercased)
is built on the first search only. The two big payloads (overview, columns) are encoded once
and kept as bytes.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kura.errors import InputError
from kura.server.fields import Field, b64, code_array, encode_date, facet_fields, metadata_fields, outcome_fields
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
REQUIRED = tuple(
    a.file for a in (artifacts.SIDECAR, artifacts.CONVERSATION_TABLE, artifacts.CLUSTER_TABLE, artifacts.CONVERSATIONS)
)


def missing_files(path: Path) -> list[str]:
    return [name for name in REQUIRED if not (path / name).is_file()]


def _finite(value: Any) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


class RunData:
    """A run directory's explorer data. Build it with :meth:`load`; it is read-only afterwards."""

    meta: dict[str, Any]
    table: pa.Table
    chat_ids: list[str]
    row_of: dict[str, int]
    clusters: dict[str, list[Any]]
    cluster_index: dict[str, int]
    base: np.ndarray
    offsets: dict[str, tuple[int, int]]
    created_at: dict[str, str | None]
    fields: list[Field]
    #: privacy.json (or the profile run.json records): see :mod:`kura.server.privacy`.
    privacy: dict[str, Any]

    def __init__(self, name: str, path: Path, *, allow_raw_text: bool = False):
        self.name = name
        self.path = path
        self.allow_raw_text = allow_raw_text
        self._lock = threading.Lock()
        self._text_index: TextIndex | None = None
        self._overview: bytes | None = None
        self._columns: bytes | None = None

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
        run.table = pq.read_table(path / artifacts.CONVERSATION_TABLE.file)
        run.chat_ids = run.table.column("chat_id").to_pylist()
        run.row_of = {chat_id: i for i, chat_id in enumerate(run.chat_ids)}
        run.clusters = pq.read_table(path / artifacts.CLUSTER_TABLE.file).to_pydict()
        run.cluster_index = {cid: i for i, cid in enumerate(run.clusters["id"])}
        index = pc.index_in(run.table.column("cluster_id"), value_set=pa.array(run.clusters["id"], pa.string()))
        run.base = index.combine_chunks().fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        run._index_conversations()
        run.fields = run._fields()
        return run

    @property
    def size(self) -> int:
        return len(self.chat_ids)

    @property
    def strict(self) -> bool:
        return self.privacy["profile"] == STRICT

    @property
    def serves_raw_text(self) -> bool:
        """Whether messages may leave this process: the conversation view, search over them."""
        return not self.strict or self.allow_raw_text

    # -- conversations.jsonl ---------------------------------------------------------------------
    def _index_conversations(self) -> None:
        """Byte offset and creation time of each conversation, by chat id (one scan)."""
        index = index_conversations(self.path / artifacts.CONVERSATIONS.file)
        self.offsets, self.created_at = index.offsets, index.created_at

    def conversation(self, chat_id: str) -> dict[str, Any] | None:
        """The conversation as loaded, with its summary row and cluster path; None if unknown.
        Raises :class:`RawTextWithheld` when this run's raw text is not served."""
        if not self.serves_raw_text:
            raise RawTextWithheld(self.name)
        where = self.offsets.get(chat_id)
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
        picked = self.table.select(columns).take(pa.array(numbers, type=pa.int64())).to_pylist()
        for number, row in zip(numbers, picked):
            row["row"] = int(number)
            row["metadata"] = json.loads(row["metadata"]) if row["metadata"] else {}
            row["created_at"] = self.created_at.get(row["chat_id"])
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
        with self._lock:
            if self._text_index is None:
                self._text_index = TextIndex(self._searchable_texts())
            return self._text_index

    def _searchable_texts(self) -> Iterator[str]:
        messages: dict[str, str] = {}
        # Which rows match a word says what the text holds: no raw text, no search over it.
        for record in self.iter_conversations() if self.serves_raw_text else ():
            if record["chat_id"] in self.row_of:
                messages[record["chat_id"]] = "\n".join(m.get("content") or "" for m in record.get("messages", []))
        parts = [
            self.table.column(k).to_pylist()
            for k in ("summary", "request", "topic", "task")
            if k in self.table.column_names
        ]
        for i, chat_id in enumerate(self.chat_ids):
            yield "\n".join([chat_id, *(p[i] or "" for p in parts), messages.get(chat_id, "")])

    # -- fields ----------------------------------------------------------------------------------
    def _fields(self) -> list[Field]:
        fields = facet_fields(self.table)
        reserved = {f.key for f in fields} | {"created_at"}
        fields += metadata_fields(self.table.column("metadata").to_pylist(), reserved=reserved)
        outcomes = self.path / artifacts.OUTCOMES.file
        if outcomes.exists():
            import pyarrow.parquet as pq

            fields += outcome_fields(pq.read_table(outcomes), self.chat_ids, reserved={f.key for f in fields})
        created = [self.created_at.get(c) for c in self.chat_ids]
        if any(created):
            fields.append(
                encode_date(Field("created_at", "Created", "date", "conversation"), pa.array(created, pa.string()))
            )
        return fields

    # -- payloads --------------------------------------------------------------------------------
    def overview_json(self) -> bytes:
        """The run, its cluster tree and its field schema (``GET /api/runs/{run}``)."""
        with self._lock:
            if self._overview is None:
                self._overview = json.dumps(self.overview(), ensure_ascii=False, separators=(",", ":")).encode()
            return self._overview

    def overview(self) -> dict[str, Any]:
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
            "fields": [f.schema() for f in self.fields],
            "privacy": self.privacy,
            "raw_text": self.serves_raw_text,
        }

    def columns_json(self) -> bytes:
        """Per-conversation typed arrays for the map and filters (``GET /api/runs/{run}/columns``)."""
        with self._lock:
            if self._columns is None:
                n_clusters = len(self.clusters["id"])
                xy = [self.table.column(k).to_numpy().astype("<f4") for k in ("x", "y")]
                payload = {
                    "size": self.size,
                    "x": {"f32": b64(xy[0])},
                    "y": {"f32": b64(xy[1])},
                    "cluster": code_array(np.where(self.base < 0, n_clusters, self.base), n_clusters),
                    # Fields no conversation has (LLM facets of an extractive run) cost nothing.
                    "fields": {f.key: f.column for f in self.fields if f.present},
                }
                self._columns = json.dumps(payload, separators=(",", ":")).encode()
            return self._columns
