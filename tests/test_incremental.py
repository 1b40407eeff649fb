"""Adding conversations to a run: only the new ones are summarised and embedded; with the
taxonomy kept, they join the existing clusters (ids and names unchanged) and the map."""

from __future__ import annotations

import json

from kura_testdata import clinc_slice

import kura
from kura.types import Conversation, Message
from kura.types.tree import ClusterTree

FAST = dict(embedder="hashing", projector="pca", clusters_per_group=10)


def conversations(rows):
    return [
        Conversation(chat_id=r["id"], messages=[Message(role="user", content=r["messages"][0]["content"])])
        for r in rows
    ]


def test_adding_conversations_computes_only_the_new_ones(tmp_path):
    old, new = conversations(clinc_slice(2)), conversations(clinc_slice(1, offset=2))
    kura.run(old, tmp_path / "run", **FAST)
    grown = kura.run(old + new, tmp_path / "run", **FAST)
    for stage in ("summarise", "embed"):
        assert (grown.stages[stage].computed, grown.stages[stage].reused) == (len(new), len(old))
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["stages"]["embed"]["computed"] == len(new) and meta["stages"]["summarise"]["reused"] == len(old)


def test_keeping_the_taxonomy_assigns_new_conversations_to_the_existing_clusters(tmp_path):
    old, new = conversations(clinc_slice(2)), conversations(clinc_slice(1, offset=2))
    first = kura.run(old, tmp_path / "run", **FAST)
    map_before = positions(tmp_path / "run")
    kept = kura.run(old + new, tmp_path / "run", keep_taxonomy=True, **FAST)
    before = {c.id: c for c in first.clusters}
    after = {c.id: c for c in kept.clusters}
    assert set(after) == set(before)  # no cluster made, none lost, ids unchanged
    assert all(after[i].name == before[i].name for i in before)
    ClusterTree(kept.clusters).validate([c.chat_id for c in old + new])
    for c in first.clusters:  # every old member stays where it was
        assert set(c.chat_ids) <= set(after[c.id].chat_ids)
    taxonomy = json.loads((tmp_path / "run" / "run.json").read_text())["counts"]["taxonomy_kept"]
    assert taxonomy["assigned"] == len(new) and 0 <= taxonomy["below_threshold"] <= len(new)
    # Known conversations keep their place on the map; new ones land among their neighbours.
    map_after = positions(tmp_path / "run")
    assert all(map_after[c.chat_id] == map_before[c.chat_id] for c in old)
    assert len(map_after) == len(old) + len(new)


def positions(run_dir):
    import pyarrow.parquet as pq

    table = pq.read_table(run_dir / "conversations.parquet", columns=["chat_id", "x", "y"]).to_pydict()
    return {c: (x, y) for c, x, y in zip(table["chat_id"], table["x"], table["y"])}
