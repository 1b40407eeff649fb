"""Kura 0.5.0's import path for the terminal views."""

from kura.visualization import (  # noqa: F401
    visualise_clusters,
    visualise_clusters_enhanced,
    visualise_clusters_rich,
    visualise_from_checkpoint_manager,
    visualise_pipeline_results,
)
