"""The run as one DuckDB database (``kura.duckdb``): every table of the run, for ``kura sql``,
``kura export`` and any tool that opens DuckDB files.

Tables (see docs/run-directory.md):

- ``conversations``: ``conversations.parquet`` (facets, creation time, cluster ids, path, x, y,
  ``metadata`` as JSON) plus one column per simple metadata key (an identifier whose values are
  all of one scalar type), e.g. ``label``;
- ``messages``: one row per message (``chat_id``, ``position``, ``role``, ``content``, ``created_at``);
- ``summaries``: every facet of every summary;
- ``clusters``: ``clusters.parquet`` (``parent_id``, ``level``, ...) plus ``is_base``;
- ``memberships``: each conversation in each cluster above it, at every level (``level`` 0 is
  the top, as in ``clusters``; ``depth`` 0 is the conversation's base cluster, 1 its parent, ...);
- ``positions``: every map position, conversations and clusters alike;
- ``outcomes``: ``outcomes.parquet`` when the run has one (``kura outcomes``).

The database is built from the run's files by DuckDB itself (no row passes through Python), to
a unique temporary name in the run directory, and renamed into place: a killed build never
leaves half a database. The export stage records its size and sha256 in ``run.json``, so an
edited or damaged database is rebuilt by the next run, and readers use it only while it still
matches (:func:`current_database`).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from kura.store import artifacts
from kura.store.files import writing
from kura.store.meta import FileDigest, RunMeta
from kura.store.run import file_digest

if TYPE_CHECKING:
    import duckdb

    from kura.store.run import RunStore

#: The stage that writes the database (its record in run.json holds the database's digest).
WRITTEN_BY = "export"
#: DuckDB types of metadata values that become columns of their own.
_SCALARS = {"VARCHAR": "VARCHAR", "BIGINT": "BIGINT", "UBIGINT": "BIGINT", "DOUBLE": "DOUBLE", "BOOLEAN": "BOOLEAN"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: The facets' types, which Parquet cannot tell when every value is empty (an extractive run).
_FACETS = {
    "summary": "VARCHAR",
    "request": "VARCHAR",
    "topic": "VARCHAR",
    "task": "VARCHAR",
    "languages": "VARCHAR[]",
    "concerning_score": "INTEGER",
    "user_frustration": "INTEGER",
    "assistant_errors": "VARCHAR[]",
}
_FACET_TYPES = ", ".join(f"{name}::{kind} AS {name}" for name, kind in _FACETS.items())
#: One line of conversations.jsonl may hold a very long conversation (DuckDB's default is 16 MB).
_MAX_LINE = 1 << 30


def write_database(store: RunStore) -> Path:
    """Build ``kura.duckdb`` from the run's files, atomically; returns its path."""
    target = store.file(artifacts.DATABASE)
    build_database(store.path, target)
    return target


def refresh_database(store: RunStore) -> Path:
    """Rebuild the database after a table was added to a finished run (``outcomes.parquet`` by
    ``kura outcomes``) and record its new digest, so readers keep using it. Hold the run's lock
    (``RunStore(path, write=True)``) while calling it."""
    target = write_database(store)
    record = store.meta.stages.get(WRITTEN_BY)
    if record is not None:
        record.files[artifacts.DATABASE.file] = FileDigest(size=target.stat().st_size, sha256=file_digest(target))
        store.save_meta()
    return target


def build_database(run_dir: Path, target: Path) -> None:
    """Build the database of the run in ``run_dir`` at ``target`` (a temporary name, then a rename)."""
    import duckdb

    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
    try:
        with writing(tmp):
            con = duckdb.connect(str(tmp))
            try:
                con.execute("SET TimeZone = 'UTC'")  # times without a zone are UTC, as the readers take them
                _create_tables(con, run_dir)
                con.execute("CHECKPOINT")
            finally:
                con.close()
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)  # on disk before the rename, so a power cut cannot leave an empty database
            finally:
                os.close(fd)
            os.replace(tmp, target)
    finally:
        for leftover in (tmp, tmp.with_name(tmp.name + ".wal")):
            leftover.unlink(missing_ok=True)


def current_database(run_dir: Path) -> Path | None:
    """The run's database if it is the one the run recorded (same size and sha256) and not older
    than the run's Parquet tables, else None.

    A database that was edited, truncated, replaced by garbage or left from an older run is
    never read: the caller falls back to the Parquet tables, and the next run rebuilds it.
    """
    path = run_dir / artifacts.DATABASE.file
    meta, _ = RunMeta.load(run_dir / artifacts.SIDECAR.file)
    record = meta.stages.get(WRITTEN_BY)
    digest = record.files.get(artifacts.DATABASE.file) if record else None
    try:
        built = path.stat()
        if digest is None or built.st_size != digest.size:
            return None
        # Tables rewritten after it (a run killed before the database was rebuilt) make it stale.
        sources = (run_dir / a.file for a in (artifacts.CONVERSATION_TABLE, artifacts.CLUSTER_TABLE))
        if any(source.stat().st_mtime_ns > built.st_mtime_ns for source in sources if source.exists()):
            return None
        if file_digest(path) != digest.sha256:
            return None
    except OSError:
        return None
    return path


def table_columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Each table (and view) a connection sees, with its columns and types, for ``.tables``."""
    rows = con.execute(
        "SELECT table_name, string_agg(column_name || ' ' || data_type, ', ' ORDER BY ordinal_position) "
        "FROM information_schema.columns GROUP BY table_name ORDER BY table_name"
    ).fetchall()
    return [(str(name), str(columns)) for name, columns in rows]


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"  # DDL takes no parameters


def _create_tables(con: duckdb.DuckDBPyConnection, run_dir: Path) -> None:
    conversations = _literal(run_dir / artifacts.CONVERSATION_TABLE.file)
    flat = _flat_metadata(con, conversations)
    con.execute(
        f"CREATE TABLE conversations AS SELECT * REPLACE (metadata::JSON AS metadata, {_FACET_TYPES}){flat} "
        f"FROM read_parquet({conversations})"
    )
    con.execute(
        f"CREATE TABLE messages AS SELECT chat_id, position, m.role AS role, m.content AS content, "
        f"m.created_at::TIMESTAMPTZ AS created_at FROM ("
        f"  SELECT chat_id, unnest(messages) AS m, generate_subscripts(messages, 1) - 1 AS position"
        f"  FROM read_json({_literal(run_dir / artifacts.CONVERSATIONS.file)}, format = 'newline_delimited',"
        f"    maximum_object_size = {_MAX_LINE},"
        f"    columns = {{chat_id: 'VARCHAR', messages: 'STRUCT(created_at VARCHAR, role VARCHAR, content VARCHAR)[]'}})"
        f")"
    )
    facets = ", ".join(f"{name}: '{kind}'" for name, kind in _FACETS.items())
    con.execute(
        f"CREATE TABLE summaries AS SELECT * REPLACE (metadata::JSON AS metadata) "
        f"FROM read_json({_literal(run_dir / artifacts.SUMMARIES.file)}, format = 'newline_delimited',"
        f"  maximum_object_size = {_MAX_LINE}, columns = {{chat_id: 'VARCHAR', {facets}, metadata: 'VARCHAR'}})"
    )
    con.execute(
        f"CREATE TABLE clusters AS SELECT c.*, NOT EXISTS (SELECT 1 FROM read_parquet({_literal(run_dir / artifacts.CLUSTER_TABLE.file)}) k "
        f"WHERE k.parent_id = c.id) AS is_base FROM read_parquet({_literal(run_dir / artifacts.CLUSTER_TABLE.file)}) c"
    )
    # cluster_path runs from the root (level 0) down to the base cluster.
    con.execute(
        "CREATE TABLE memberships AS SELECT chat_id, cluster_id, level, len(cluster_path) - 1 - level AS depth FROM ("
        "  SELECT chat_id, cluster_path, unnest(cluster_path) AS cluster_id,"
        "  generate_subscripts(cluster_path, 1) - 1 AS level FROM conversations"
        ")"
    )
    con.execute(
        "CREATE TABLE positions AS "
        "SELECT 'conversation' AS kind, chat_id AS id, NULL::BIGINT AS level, x, y FROM conversations "
        "UNION ALL SELECT 'cluster', id, level, x, y FROM clusters"
    )
    outcomes = run_dir / artifacts.OUTCOMES.file
    if outcomes.exists():
        con.execute(f"CREATE TABLE outcomes AS SELECT * FROM read_parquet({_literal(outcomes)})")


def _flat_metadata(con: duckdb.DuckDBPyConnection, conversations: str) -> str:
    """``, CAST(metadata->>'key' AS TYPE) AS key`` for each simple metadata key (an identifier
    whose values share one scalar type); a key named like a column gets a ``metadata_`` prefix."""
    row = con.execute(f"SELECT json_group_structure(metadata::JSON) FROM read_parquet({conversations})").fetchone()
    structure = json.loads(row[0]) if row and row[0] else {}
    if not isinstance(structure, dict):
        return ""
    # DuckDB's names are case-insensitive.
    taken = {str(r[0]).lower() for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet({conversations})").fetchall()}
    out = []
    for key, kind in structure.items():
        if not (isinstance(kind, str) and kind in _SCALARS and _IDENTIFIER.match(key)):
            continue
        name = f"metadata_{key}" if key.lower() in taken else key
        if name.lower() in taken:
            continue
        taken.add(name.lower())
        out.append(f", TRY_CAST(metadata::JSON->>'{key}' AS {_SCALARS[kind]}) AS \"{name}\"")
    return "".join(out)


#: ``kura export`` formats: DuckDB's COPY options and the file extension.
EXPORT_FORMATS = {
    "parquet": ("FORMAT parquet", "parquet"),
    "csv": ("FORMAT csv, HEADER true", "csv"),
    "json": ("FORMAT json", "jsonl"),  # one object per line: streams, and reads back in any tool
}


def export_tables(run_dir: str | Path, out_dir: str | Path, format: str = "parquet") -> list[Path]:
    """Write every table of the run's database to ``out_dir`` as ``TABLE.parquet``, ``.csv`` or
    ``.jsonl`` (``format="json"``: one JSON object per line); returns the files written.

    A run whose database is missing or not the recorded one (made by an older Kura, or damaged)
    is exported from a database built afresh in a temporary folder; the run is not touched.
    """
    import tempfile

    import duckdb

    from kura.errors import ConfigError, InputError
    from kura.store.run import is_run_dir

    if format not in EXPORT_FORMATS:
        raise ConfigError(f"--format {format!r} is unknown: use {', '.join(EXPORT_FORMATS)}")
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if not is_run_dir(run_dir):
        raise InputError(
            "is not a Kura run directory (no run.json): run `kura run INPUT --out DIR` first", path=str(run_dir)
        )
    missing = [
        a.file for a in (artifacts.CONVERSATION_TABLE, artifacts.CLUSTER_TABLE) if not (run_dir / a.file).exists()
    ]
    if missing:
        raise InputError(f"the run is not finished ({missing[0]} is missing): run `kura run` again", path=str(run_dir))
    options, extension = EXPORT_FORMATS[format]
    with tempfile.TemporaryDirectory(prefix="kura-export-") as scratch:
        database = current_database(run_dir)
        if database is None:
            database = Path(scratch) / artifacts.DATABASE.file
            build_database(run_dir, database)
        with writing(out_dir):
            out_dir.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(database), read_only=True)
        written = []
        try:
            con.execute("SET TimeZone = 'UTC'")
            for (table,) in con.execute("SHOW TABLES").fetchall():
                target = out_dir / f"{table}.{extension}"
                with writing(target):
                    con.execute(f'COPY "{table}" TO {_literal(target)} ({options})')
                written.append(target)
        finally:
            con.close()
    return written
