"""``kura classify``: new conversations classified into a saved taxonomy, as a run directory.

    summarise -> embed -> classify -> export

``summarise`` and ``embed`` are the pipeline's own stages (kura/runner/graph.py), so loading,
the item cache, failures and resume work as in ``kura run``; the summariser and embedder are the
taxonomy run's (``kura.taxonomy.components_for``). ``classify`` writes ``assignments.jsonl``
(cluster, path, confidence, possibly new). ``export`` writes the taxonomy's clusters that
received conversations (ids, names and map positions unchanged, counts for this batch) and the
tables every run has, with ``cluster_id`` null for the possibly new; each conversation is placed
on the map beside its nearest conversations of the taxonomy run.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kura.embedders import Embedder
from kura.errors import ConfigError
from kura.io import LoadReport
from kura.llm.chooser import LLMClusterChooser
from kura.privacy.policy import PrivacyPolicy
from kura.progress import Reporter, StageBar
from kura.runner.blocking import blocking
from kura.runner.executor import Executor, get_executor
from kura.runner.graph import STAGES, Embedded, Inputs, Run, place_beside_neighbours
from kura.runner.params import Component, label
from kura.runner.runner import Runner, Stage, StageOutput
from kura.store import artifacts
from kura.store.export import write_parquet_exports
from kura.store.meta import Failure, RunMeta, StageRecord
from kura.store.run import RunStore
from kura.taxonomy import Assignment, Taxonomy, components_for
from kura.types import Cluster, ConversationSummary, ProjectedCluster

#: The metadata value that marks a possibly new conversation (a filter in the explorer, a value in SQL).
POSSIBLY_NEW = "possibly new"


class TaxonomyClassifier(Component):
    """The ``classify`` stage's worker: a taxonomy, and optionally a language model that decides."""

    def __init__(self, taxonomy: Taxonomy, *, chooser: LLMClusterChooser | None = None, top_k: int = 5):
        self.taxonomy = taxonomy
        self.chooser = chooser
        self.top_k = top_k

    @property
    def name(self) -> str:
        decides = f", {self.chooser.name} among {self.top_k}" if self.chooser else ""
        return f"taxonomy {self.taxonomy.path} (alpha {self.taxonomy.scorer.alpha}{decides})"


@dataclass
class Batch:
    clusters: list[ProjectedCluster]
    summaries: list[ConversationSummary] = field(default_factory=list)
    points: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.clusters)


@dataclass
class ClassifyResult:
    """What ``classify`` produced; everything is also on disk under ``path``."""

    path: Path
    taxonomy: Taxonomy
    assignments: list[Assignment]
    clusters: list[ProjectedCluster]
    failures: list[Failure]
    load_report: LoadReport
    counts: dict[str, Any]
    stages: dict[str, StageRecord] = field(default_factory=dict)

    def per_top_cluster(self) -> list[tuple[str, int]]:
        """Assigned conversations per top-level cluster, largest first."""
        counted = Counter(a.path_names[0] for a in self.assignments if not a.unassigned)
        return counted.most_common()


async def classify_stage(run: Run, inputs: dict[str, Any], bar: StageBar) -> StageOutput:
    summaries, vectors = inputs["embed"].placed
    classifier: TaxonomyClassifier = run.components["classifier"]
    bar.total(len(summaries))
    assignments = await classifier.taxonomy.classify(
        summaries, vectors, chooser=classifier.chooser, top_k=classifier.top_k, executor=run.executor
    )
    bar.advance(len(assignments))
    return StageOutput(assignments, computed=len(assignments))


async def export_stage(run: Run, inputs: dict[str, Any], bar: StageBar) -> StageOutput:
    summaries, vectors = inputs["embed"].placed
    assignments: list[Assignment] = inputs["classify"]
    taxonomy: Taxonomy = run.components["classifier"].taxonomy
    source = RunStore(taxonomy.path)
    members: dict[str, list[str]] = {}
    for a in assignments:
        if not a.unassigned:
            for cluster_id in a.path:
                members.setdefault(cluster_id, []).append(a.chat_id)
    clusters = [
        c.model_copy(update={"chat_ids": members[c.id]})
        for c in source.read_models(artifacts.MAP, ProjectedCluster)
        if c.id in members
    ]
    known, known_vectors = Embedded(
        source.read_models(artifacts.SUMMARIES, ConversationSummary), source.read_array(artifacts.VECTORS)
    ).placed
    points = place_beside_neighbours(source, [*known, *summaries], np.vstack([known_vectors, vectors]))[len(known) :]
    by_id = {a.chat_id: a for a in assignments}
    annotated = [s.model_copy(update={"metadata": {**s.metadata, **_facts(by_id[s.chat_id])}}) for s in summaries]
    bar.advance(len(clusters))
    return StageOutput(Batch(clusters, annotated, points), computed=len(clusters))


def _facts(a: Assignment) -> dict[str, Any]:
    """What the explorer and SQL show of an assignment (metadata fields of the conversation)."""
    return {
        "assignment": POSSIBLY_NEW if a.unassigned else "assigned",
        "confidence": a.confidence,
        "nearest_cluster": a.cluster_name,
        "decided_by": a.decided_by,
    }


def _write_batch(store: RunStore, batch: Batch) -> None:
    tree = [Cluster(**c.model_dump(include=set(Cluster.model_fields))) for c in batch.clusters]
    parents = {c.parent_id for c in tree}
    store.write_models(artifacts.CLUSTERS, [c for c in tree if c.id not in parents])
    store.write_models(artifacts.TREE, tree)
    store.write_models(artifacts.MAP, batch.clusters)
    assert batch.points is not None
    write_parquet_exports(store, batch.summaries, batch.clusters, batch.points)


def _write_assignments(store: RunStore, assignments: list[Assignment]) -> None:
    store.write_models(artifacts.ASSIGNMENTS, assignments)


STAGES_BY_NAME = {s.name: s for s in STAGES}

CLASSIFY_STAGES: tuple[Stage, ...] = (
    STAGES_BY_NAME["summarise"],
    STAGES_BY_NAME["embed"],
    Stage(
        name="classify",
        label="Classifying",
        inputs=("embed",),
        components=("classifier",),
        outputs=(artifacts.ASSIGNMENTS,),
        compute=classify_stage,
        write=_write_assignments,
        read=lambda store: store.read_models(artifacts.ASSIGNMENTS, Assignment),
    ),
    Stage(
        name="export",
        label="Writing tables",
        inputs=("embed", "classify"),
        components=("classifier",),
        outputs=(
            artifacts.CLUSTERS,
            artifacts.TREE,
            artifacts.MAP,
            artifacts.CONVERSATION_TABLE,
            artifacts.CLUSTER_TABLE,
        ),
        compute=export_stage,
        write=_write_batch,
        read=lambda store: Batch(store.read_models(artifacts.MAP, ProjectedCluster)),
    ),
)


def classify_policy(run_dir: str | Path) -> PrivacyPolicy:
    """The taxonomy run's privacy profile, for what classifying keeps: a strict run's new
    conversations keep no text either (their summaries are scrubbed: see components_for)."""
    recorded = RunStore(run_dir).meta.config
    strict = recorded.get("privacy") == "strict"
    return PrivacyPolicy(profile="strict" if strict else "off", keep_raw=not strict or bool(recorded.get("keep_raw")))


async def classify_async(
    run_dir: str | Path,
    inputs: Inputs,
    out: str | Path,
    *,
    llm: Any = None,
    embedder: str | Embedder | None = None,
    alpha: float = 0.05,
    top_k: int = 5,
    format: str = "auto",
    strict: bool = False,
    columns: dict[str, str] | None = None,
    progress: bool = False,
    executor: str | Executor = "in-process",
    ray_address: str | None = None,
) -> ClassifyResult:
    """Classify ``inputs`` (files, folders or ``Conversation`` objects) into the taxonomy of the
    finished run ``run_dir`` and write the result as the run directory ``out``.

    ``llm`` (a model string or ``kura.llm.LLM``) lets a language model choose among the ``top_k``
    nearest clusters; ``alpha`` is the share of the run's own conversations that would count as
    possibly new (the calibration, see ``kura.stages.assign``). ``executor`` is where per-item
    work (summaries, vectors, the language model's choices) runs, as in ``kura.run``.
    """
    if top_k < 1:
        raise ConfigError(f"top_k={top_k} should be >= 1")
    if Path(out).resolve() == Path(run_dir).resolve():
        raise ConfigError(f"--out {out} is the taxonomy run itself: write the classification to another folder")
    where = get_executor(executor, ray_address=ray_address)
    taxonomy = Taxonomy.load(run_dir, alpha=alpha)
    summariser, embedder_obj = components_for(run_dir, embedder=embedder)
    chooser = None
    if llm is not None:
        from kura.llm import get_llm

        chooser = LLMClusterChooser(get_llm(llm))
        chooser.llm.check()
    components = dict(
        summariser=summariser,
        embedder=embedder_obj,
        classifier=TaxonomyClassifier(taxonomy, chooser=chooser, top_k=top_k),
        privacy=classify_policy(run_dir),
    )
    reporter = Reporter(enabled=progress)
    store = RunStore(out, write=True)
    if store.meta_problem:
        reporter.note(store.meta_problem)
    if chooser is not None:
        chooser.llm.use_cache(store.cache)
        chooser.llm.usage.reset()
    context = Run(inputs, store, components, format, strict, columns, executor=where)
    runner = Runner(store, components, reporter, context)
    try:
        try:
            results = await runner.run(CLASSIFY_STAGES)
        finally:
            store.write_failures(runner.failures)
        assignments: list[Assignment] = results["classify"].value
        clusters: list[ProjectedCluster] = results["export"].value.clusters
        unassigned = sum(a.unassigned for a in assignments)
        counts = dict(
            conversations_loaded=context.report.total_loaded,
            records_skipped=context.report.total_skipped,
            summarised=len(results["embed"].value.summaries),
            failed=len(runner.failures),
            assigned=len(assignments) - unassigned,
            unassigned=unassigned,
            threshold=round(taxonomy.threshold, 4),
            base_clusters=sum(1 for c in clusters if c.id in {b.id for b in taxonomy.base}),
            clusters=len(clusters),
            top_clusters=sum(1 for c in clusters if c.parent_id is None),
        )
        usage = None
        if chooser is not None:
            from kura.llm.cost import usage_report

            usage = usage_report(chooser.llm.usage, {"*": chooser.llm.name})
        source_meta = taxonomy_meta(taxonomy)
        store.meta = RunMeta(
            created_at=store.meta.created_at,
            kura_version=_version(),
            mode=source_meta.mode,
            settings={name: label(c) for name, c in components.items()} | dict(alpha=alpha, top_k=top_k),
            inputs=context.report.as_dicts(),
            counts=counts,
            seconds=dict(reporter.seconds),
            reused=[name for name, r in results.items() if r.reused],
            usage=usage,
            stages={name: r.record for name, r in results.items()},
            classification={
                "taxonomy": str(taxonomy.path.resolve()),
                "taxonomy_created_at": source_meta.created_at,
                "alpha": alpha,
                "threshold": counts["threshold"],
                "decided_by": chooser.llm.name if chooser else "embedding",
            },
        )
        store.save_meta()
        return ClassifyResult(
            path=store.path,
            taxonomy=taxonomy,
            assignments=assignments,
            clusters=clusters,
            failures=runner.failures,
            load_report=context.report,
            counts=counts,
            stages={name: r.record for name, r in results.items()},
        )
    finally:
        if chooser is not None:
            chooser.llm.use_cache(None)
            await chooser.llm.aclose()
        store.close()


def taxonomy_meta(taxonomy: Taxonomy) -> RunMeta:
    return RunStore(taxonomy.path).meta


def _version() -> str:
    from kura import __version__

    return __version__


#: :func:`classify_async` in a new event loop (same arguments).
classify = blocking(classify_async, "classify")
