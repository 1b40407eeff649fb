"""Kura 0.5's README quick-start, as written, with the data source and models swapped for offline ones."""

import asyncio
import json

from kura_testdata import DEMO_DATA


def test_kura05_readme_quickstart(tmp_path, monkeypatch, capsys):
    datasets = __import__("datasets")
    rows = [json.loads(line) for line in DEMO_DATA.read_text().splitlines()]
    datasets.Dataset.from_list(
        [{"chat_id": r["id"], "created_at": "2024-05-01T12:00:00Z", "messages": r["messages"]} for r in rows]
    ).save_to_disk(str(tmp_path / "oasst-dataset"))
    monkeypatch.chdir(tmp_path)

    # ---- Kura 0.5 README quick-start (models: offline; data: a dataset saved to disk) ----
    from rich.console import Console

    from kura.cache import DiskCacheStrategy  # noqa: F401  (imported by the quick-start)
    from kura.checkpoints import JSONLCheckpointManager
    from kura.cluster import ExtractiveClusterModel, generate_base_clusters_from_conversation_summaries
    from kura.dimensionality import HDBUMAP, reduce_dimensionality_from_clusters
    from kura.meta_cluster import ExtractiveMetaClusterModel, reduce_clusters_from_base_clusters
    from kura.summarisation import ExtractiveSummaryModel, summarise_conversations
    from kura.types import Conversation
    from kura.visualization import visualise_pipeline_results

    async def main():
        console = Console()  # noqa: F841

        # Define Models
        summary_model = ExtractiveSummaryModel()
        cluster_model = ExtractiveClusterModel()
        meta_cluster_model = ExtractiveMetaClusterModel()
        dimensionality_model = HDBUMAP()

        # Define Checkpoints
        checkpoint_manager = JSONLCheckpointManager("./checkpoints", enabled=True)

        # Load conversations from Hugging Face dataset
        conversations = Conversation.from_hf_dataset("./oasst-dataset", split="train")

        # Process through the pipeline step by step
        summaries = await summarise_conversations(
            conversations, model=summary_model, checkpoint_manager=checkpoint_manager
        )

        clusters = await generate_base_clusters_from_conversation_summaries(
            summaries, model=cluster_model, checkpoint_manager=checkpoint_manager
        )

        reduced_clusters = await reduce_clusters_from_base_clusters(
            clusters, model=meta_cluster_model, checkpoint_manager=checkpoint_manager
        )

        projected_clusters = await reduce_dimensionality_from_clusters(
            reduced_clusters,
            model=dimensionality_model,
            checkpoint_manager=checkpoint_manager,
        )

        # Visualize results
        visualise_pipeline_results(projected_clusters, style="basic")
        return conversations, summaries, clusters, projected_clusters

    conversations, summaries, clusters, projected = asyncio.run(main())
    # ---- end of quick-start ----

    assert len(conversations) == 100 and len(summaries) == 100
    assert sum(c.count for c in clusters) == 100 and len(clusters) == 10  # k = ceil(100 / 10)
    roots = [c for c in projected if c.parent_id is None]
    assert 2 <= len(roots) < len(clusters)
    assert sorted(i for r in roots for i in r.chat_ids) == sorted(c.chat_id for c in conversations)
    assert {c.level for c in roots} == {0} and max(c.level for c in projected) >= 1
    for name in ["summaries.jsonl", "clusters.jsonl", "meta_clusters.jsonl", "dimensionality.jsonl"]:
        assert (tmp_path / "checkpoints" / name).stat().st_size > 0, name
    printed = capsys.readouterr().out
    assert "Clusters (100 conversations)" in printed
    assert all(r.name in printed for r in roots)
