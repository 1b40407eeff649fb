"""Kura 0.4/0.5 surfaces beyond the quick-start: the class API, checkpoints, cache, terminal views."""

import asyncio

import pytest
from kura_testdata import DEMO_DATA

from kura.types import Cluster, ConversationSummary


def test_kura04_class_api(tmp_path):
    from kura import Kura
    from kura.embedders import HashingEmbedder

    kura = Kura(embedding_model=HashingEmbedder(), max_clusters=3, checkpoint_dir=str(tmp_path / "ckpt"))
    conversations = kura.load_conversations(DEMO_DATA)
    assert len(conversations) == 100
    projected = asyncio.run(kura.cluster_conversations())
    roots = [c for c in projected if c.parent_id is None]
    assert len(roots) == 3 and sum(r.count for r in roots) == 100
    for name in ["summaries.jsonl", "clusters.jsonl", "meta_clusters.jsonl", "dimensionality.jsonl"]:
        assert (tmp_path / "ckpt" / name).exists()
    again = asyncio.run(
        Kura(embedding_model=HashingEmbedder(), checkpoint_dir=str(tmp_path / "ckpt")).cluster_conversations(
            conversations
        )
    )
    assert [c.id for c in again] == [c.id for c in projected]  # loaded from the checkpoints


def _models():
    summary = ConversationSummary(
        summary="s", chat_id="1", metadata={"nested": {"a": [1, 2]}, "turns": 3}, languages=["english"]
    )
    cluster = Cluster(id="c", name="n", description="d", slug="s", chat_ids=["1", "2"], parent_id=None)
    return summary, cluster


@pytest.mark.parametrize("manager_name", ["JSONLCheckpointManager", "ParquetCheckpointManager"])
def test_checkpoint_managers_round_trip(tmp_path, manager_name):
    import kura.checkpoints as checkpoints

    manager = getattr(checkpoints, manager_name)(str(tmp_path))
    summary, cluster = _models()
    manager.save_checkpoint("summaries", [summary])
    manager.save_checkpoint("clusters", [cluster])
    assert manager.load_checkpoint("summaries", ConversationSummary) == [summary]
    assert manager.load_checkpoint("clusters", Cluster) == [cluster]
    assert manager.load_checkpoint("missing", Cluster) is None
    assert len(manager.list_checkpoints()) == 2
    assert manager.delete_checkpoint("clusters") and manager.load_checkpoint("clusters", Cluster) is None


def test_multi_checkpoint_manager_saves_to_all_and_loads_from_the_first(tmp_path):
    from kura.checkpoints import JSONLCheckpointManager, MultiCheckpointManager, ParquetCheckpointManager

    jsonl, parquet = JSONLCheckpointManager(str(tmp_path / "j")), ParquetCheckpointManager(str(tmp_path / "p"))
    multi = MultiCheckpointManager([jsonl, parquet])
    _, cluster = _models()
    multi.save_checkpoint("clusters", [cluster])
    assert jsonl.load_checkpoint("clusters", Cluster) == parquet.load_checkpoint("clusters", Cluster) == [cluster]
    jsonl.delete_checkpoint("clusters")
    assert multi.load_checkpoint("clusters", Cluster) == [cluster]


def test_disk_cache_strategy_survives_reopening(tmp_path):
    from kura.cache import DiskCacheStrategy

    DiskCacheStrategy(str(tmp_path)).set("k", {"value": [1, 2]})
    assert DiskCacheStrategy(str(tmp_path)).get("k") == {"value": [1, 2]}
    assert DiskCacheStrategy(str(tmp_path)).get("other") is None


def test_terminal_views_in_every_style_print_names_as_text(capsys):
    from rich.console import Console

    from kura import visualise_pipeline_results

    tree = [
        Cluster(id="r", name="Top [bold]x[/bold]", description="d", slug="s", chat_ids=["1", "2", "3"]),
        Cluster(id="a", name="Child A", description="d", slug="s", chat_ids=["1", "2"], parent_id="r"),
        Cluster(id="b", name="Child B", description="d", slug="s", chat_ids=["3"], parent_id="r"),
    ]
    visualise_pipeline_results(tree, style="basic")
    basic = capsys.readouterr().out
    assert (
        "Clusters (3 conversations)" in basic
        and "╠══ Child A (2 conversations)" in basic
        and "╚══ Child B (1 conversations)" in basic
    )
    visualise_pipeline_results(tree, style="enhanced")
    assert "66.7%" in capsys.readouterr().out
    console = Console(record=True, width=120)
    visualise_pipeline_results(tree, style="rich", console=console)
    assert "Top [bold]x[/bold]" in console.export_text()  # conversation-derived text is never markup
    with pytest.raises(ValueError, match="Invalid style"):
        visualise_pipeline_results(tree, style="fancy")  # type: ignore[arg-type]
