"""Exports of a run for other tools: Parquet tables, and SQL over the run through DuckDB."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from kura.errors import InputError
from kura.store.artifacts import CLUSTER_TABLE, CONVERSATION_TABLE, CONVERSATIONS, OUTCOMES
from kura.store.conversation_index import index_conversations
from kura.store.run import RunStore, is_run_dir
from kura.types import ConversationSummary, ProjectedCluster
from kura.types.tree import ClusterTree

#: The tables kept as Parquet files, queried directly when the run has no usable database.
TABLES = {"conversations": CONVERSATION_TABLE.file, "clusters": CLUSTER_TABLE.file, "outcomes": OUTCOMES.file}


def write_parquet_exports(
    store: RunStore, summaries: Sequence[ConversationSummary], clusters: Sequence[ProjectedCluster], points: np.ndarray
) -> None:
    """``conversations.parquet`` (one row per conversation) and ``clusters.parquet``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    created = index_conversations(store.path / CONVERSATIONS.file).created_at if store.exists(CONVERSATIONS) else {}

    tree = ClusterTree(clusters)
    base_of = tree.base_of()
    paths = {cid: [c.id for c in tree.path(cid)] for cid in set(base_of.values())}
    rows: dict[str, list[Any]] = {
        k: []
        for k in (
            "chat_id",
            "created_at",
            "summary",
            "request",
            "topic",
            "task",
            "languages",
            "concerning_score",
            "user_frustration",
            "assistant_errors",
            "cluster_id",
            "cluster_path",
            "top_cluster_id",
            "top_cluster",
            "x",
            "y",
            "metadata",
        )
    }
    for i, s in enumerate(summaries):
        cid = base_of.get(s.chat_id)
        path = paths.get(cid, []) if cid else []
        rows["chat_id"].append(s.chat_id)
        rows["created_at"].append(_utc(created.get(s.chat_id)))
        rows["summary"].append(s.summary)
        rows["request"].append(s.request)
        rows["topic"].append(s.topic)
        rows["task"].append(s.task)
        rows["languages"].append(s.languages)
        rows["concerning_score"].append(s.concerning_score)
        rows["user_frustration"].append(s.user_frustration)
        rows["assistant_errors"].append(s.assistant_errors)
        rows["cluster_id"].append(cid)
        rows["cluster_path"].append(path)
        rows["top_cluster_id"].append(path[0] if path else None)
        rows["top_cluster"].append(tree[path[0]].name if path else None)
        rows["x"].append(float(points[i, 0]))
        rows["y"].append(float(points[i, 1]))
        rows["metadata"].append(json.dumps(s.metadata, ensure_ascii=False, default=str))
    schema = {"created_at": pa.timestamp("us", tz="UTC")}
    table = pa.table({k: pa.array(v, schema.get(k)) for k, v in rows.items()})
    store.write_binary(TABLES["conversations"], lambda f: pq.write_table(table, f))

    clusters_table = pa.table(
        {
            "id": [c.id for c in clusters],
            "name": [c.name for c in clusters],
            "description": [c.description for c in clusters],
            "slug": [c.slug for c in clusters],
            # which namer made the name (a model's, or "terms")
            "named_by": pa.array([c.named_by for c in clusters], pa.string()),
            "parent_id": [c.parent_id for c in clusters],
            "level": [c.level for c in clusters],
            "count": [len(c.chat_ids) for c in clusters],
            "x": [c.x_coord for c in clusters],
            "y": [c.y_coord for c in clusters],
        }
    )
    store.write_binary(TABLES["clusters"], lambda f: pq.write_table(clusters_table, f))


def _utc(text: str | None) -> datetime | None:
    """A conversation's creation time as written by pydantic, as an aware UTC time (a time
    without a zone is taken as UTC, as the readers do)."""
    if not text:
        return None
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def sql(run_dir: str | Path, query: str) -> tuple[list[str], list[tuple]]:
    """Run SQL over a run's tables; returns (columns, rows). ``.tables`` lists them with their columns.

    The run's database (``kura.duckdb``, every table: conversations, messages, summaries,
    clusters, memberships, positions, outcomes) is opened read-only when it is the one the run
    recorded; otherwise (a run made before it existed, or a damaged one) the Parquet tables
    ``conversations``, ``clusters`` and ``outcomes`` are queried instead.
    """
    import duckdb

    from kura.store.database import current_database, table_columns

    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise InputError(
            "is not a Kura run directory (no run.json): run `kura run INPUT --out DIR` first", path=str(run_dir)
        )
    database = current_database(run_dir)
    con = duckdb.connect(str(database), read_only=True) if database else duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        present = {str(r[0]) for r in con.execute("SHOW TABLES").fetchall()}
        for view, name in TABLES.items():
            path = run_dir / name
            # A table the database lacks (no database, or outcomes added after it was built).
            if path.exists() and (view not in present or path.stat().st_mtime > (database or path).stat().st_mtime):
                literal = str(path).replace("'", "''")  # DDL takes no parameters
                con.execute(f"CREATE TEMP VIEW {view} AS SELECT * FROM read_parquet('{literal}')")
        if query.strip().rstrip(";") == ".tables":
            return ["table", "columns"], list(table_columns(con))
        cursor = con.execute(query)
        columns = [d[0] for d in cursor.description or []]
        return columns, cursor.fetchall()
    finally:
        con.close()
