"""One run in the server's memory (kura/server/rundata.py): what loading reads first, and what follows."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from kura.server.packed import from_binary
from kura.server.rundata import RunData


def test_the_map_needs_only_the_tree_and_positions_the_rest_follows(runs_root: Path):
    run = RunData.load("oasst", runs_root / "oasst")
    assert set(run._made) == set()  # nothing made yet: no table, fields, offsets or search index
    points = from_binary(run.points_binary())
    table = pq.read_table(runs_root / "oasst" / "conversations.parquet").to_pydict()
    ids = run.clusters["id"]
    assert [ids[c] for c in points["cluster"]] == table["cluster_id"]
    run.points_sent()  # the page has its map: the background work need not wait
    run.prepare()  # what the server does in the background
    assert {"fields", "table", "row_of", "lines", "text_index"} <= set(run._made)
    chat_id = table["chat_id"][7]
    assert run.conversation(chat_id)["chat_id"] == chat_id and run.conversation("no such id") is None
    assert run.search(chat_id)[7]


def test_a_run_where_no_conversation_has_a_cluster_still_loads(runs_root: Path, tmp_path: Path):
    path = tmp_path / "unclustered"
    shutil.copytree(runs_root / "oasst", path)
    table = pq.read_table(path / "conversations.parquet")
    at = table.column_names.index("cluster_id")
    pq.write_table(table.set_column(at, "cluster_id", pa.nulls(len(table))), path / "conversations.parquet")
    run = RunData.load("unclustered", path)
    assert (run.base == -1).all()
    assert np.all(from_binary(run.points_binary())["cluster"] == len(run.clusters["id"]))  # the "none" code
