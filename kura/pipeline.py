"""The whole job in one call: ``kura.run`` builds the components from its settings and hands
the declared stages (kura/runner/graph.py) to the runner (kura/runner/runner.py), which reuses
every stage whose settings and inputs did not change and resumes per-item work from the cache.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kura.config import RunConfig, takes_settings
from kura.embedders import Embedder, embedder_name, get_embedder
from kura.errors import ConfigError
from kura.io import LoadReport
from kura.privacy.policy import ScrubbedSummariser, privacy_policy
from kura.privacy.report import privacy_report
from kura.progress import Reporter
from kura.runner.blocking import blocking
from kura.runner.executor import get_executor
from kura.runner.graph import STAGES, Embedded, Inputs, Run
from kura.runner.params import label
from kura.runner.runner import Runner
from kura.stages.cluster import get_clusterer
from kura.stages.hierarchy import EmbeddingHierarchy, HierarchyBuilder
from kura.stages.naming import ClusterNamer, DistinctiveTermsNamer
from kura.stages.project import get_projector
from kura.stages.summarise import ExtractiveSummariser, Extractor, Summariser
from kura.store import RunStore, artifacts
from kura.store.meta import Failure, RunMeta, StageRecord
from kura.types import Cluster, ConversationSummary, ProjectedCluster

if TYPE_CHECKING:
    from kura.llm import LLM

__all__ = ["Inputs", "RunResult", "run", "run_async"]


@dataclass
class RunResult:
    """What a run produced; everything is also on disk under ``path``."""

    path: Path
    summaries: list[ConversationSummary]
    clusters: list[ProjectedCluster]
    failures: list[Failure]
    load_report: LoadReport
    mode: str
    seconds: dict[str, float] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    #: Language-model usage per stage with estimated cost (``kura.llm.usage_report``); None offline.
    usage: dict | None = None
    #: What each stage did this time: fingerprint, files, items computed and reused.
    stages: dict[str, StageRecord] = field(default_factory=dict)
    #: What the privacy layers scrubbed, merged and withheld (``privacy.json``).
    privacy: dict[str, Any] = field(default_factory=dict)

    @property
    def roots(self) -> list[ProjectedCluster]:
        return [c for c in self.clusters if c.parent_id is None]


@takes_settings
async def run_async(
    inputs: Inputs,
    out: str | Path = "kura-run",
    *,
    config: RunConfig | None = None,
    summariser: Summariser | None = None,
    namer: ClusterNamer | None = None,
    hierarchy: HierarchyBuilder | None = None,
    extractors: Iterable[Extractor] = (),
    progress: bool = False,
    reporter: Reporter | None = None,
    **settings: Any,
) -> RunResult:
    """Run every stage into the run directory ``out`` and return the result.

    ``inputs`` are files or folders in any supported format (or ``Conversation`` objects).
    ``settings`` are the fields of :class:`kura.RunConfig` (``embedder``, ``clusters_per_group``,
    ``llm``, ``seed``...), given one by one or as ``config``. Without ``llm`` (and without a
    ``summariser``) the run is extractive: no language model, no API key. With ``llm`` (a model
    string like ``openai/gpt-4o-mini``, ``local`` or ``fake/echo``, or a ``kura.llm.LLM``)
    summaries, cluster names and the hierarchy come from that model; objects passed as
    ``summariser``, ``namer`` or ``hierarchy`` still win. With ``keep_taxonomy`` a re-run into the
    same ``out`` keeps the last run's clusters (ids and names) and map, and places new
    conversations in them instead of clustering again. ``executor`` (``"in-process"``, ``"ray"``
    or a ``kura.runner.executor.Executor``) is where per-item work runs: this process by default.
    """
    config = RunConfig.of(config, **settings)
    if config.outcomes is not None and not Path(config.outcomes).is_file():
        raise ConfigError(f"outcomes={str(config.outcomes)!r}: no such file: give a CSV or Parquet table of outcomes")
    reporter = reporter or Reporter(enabled=progress)
    executor = get_executor(config.executor, ray_address=config.ray_address)
    llm_obj = None
    if config.llm is not None:
        from kura.llm import ClioHierarchy, LLMClusterNamer, LLMSummariser, get_llm

        llm_obj = get_llm(config.llm, base_url=config.base_url, max_concurrency=config.concurrency)
        summariser = summariser or LLMSummariser(llm_obj)
        namer = namer or LLMClusterNamer(llm_obj)
        hierarchy = hierarchy or ClioHierarchy(
            llm_obj, top_clusters=config.top_clusters, levels=config.levels, seed=config.seed
        )
    summariser = summariser or ExtractiveSummariser()
    policy = privacy_policy(config, llm_obj)
    if policy.scrubber is not None:
        summariser = ScrubbedSummariser(summariser, policy.scrubber)
    embedder_obj = build_embedder(config)
    clusterer_obj = get_clusterer(config.clusterer, clusters_per_group=config.clusters_per_group, seed=config.seed)
    if namer is None and llm_obj is None and config.local_names != "off":
        from kura.llm.local_names import local_namer

        namer = local_namer(config.local_names, config.name_budget, reporter.note)
    if namer is None:
        from kura.llm.embeddings import OpenAIEmbedder

        # Phrases are compared with the clusters' centroids by the run's own embedder when it is
        # local; over an API every level's phrases would be extra paid requests, so there the
        # names come from c-TF-IDF alone.
        namer = DistinctiveTermsNamer(embedder=None if isinstance(embedder_obj, OpenAIEmbedder) else embedder_obj)
    hierarchy = hierarchy or EmbeddingHierarchy(
        top_clusters=config.top_clusters, levels=config.levels, seed=config.seed, namer=namer
    )
    projector_obj = get_projector(config.projector, seed=config.seed)
    mode = f"language model ({llm_obj.name})" if llm_obj is not None else _mode(summariser, namer, hierarchy)
    llms = _llms_of(summariser, namer, hierarchy, policy.auditor)
    for model in llms:
        model.check()  # a missing key or package: one clear error now, not one per conversation

    store = RunStore(out, write=True)
    if store.meta_problem:
        reporter.note(store.meta_problem)
    for model in llms:  # every answer is cached in the run directory; usage is counted per run
        # ...except in the strict profile: a model's raw answer may hold what scrubbing removes,
        # so only scrubbed summaries are cached (names are asked for again on a re-run).
        model.use_cache(None if policy.scrubber else store.cache)
        model.usage.reset()
    if hasattr(getattr(embedder_obj, "usage", None), "reset"):
        embedder_obj.usage.reset()  # type: ignore[attr-defined]
    components = dict(
        summariser=summariser,
        embedder=embedder_obj,
        clusterer=clusterer_obj,
        namer=namer,
        hierarchy=hierarchy,
        projector=projector_obj,
        privacy=policy,
    )
    context = Run(
        inputs,
        store,
        components,
        config.format,
        config.strict,
        config.columns,
        list(extractors),
        keep_taxonomy=config.keep_taxonomy,
        executor=executor,
    )
    runner = Runner(store, components, reporter, context)
    try:
        try:
            results = await runner.run(STAGES)
        finally:
            store.write_failures(runner.failures)  # what did finish is listed even if a stage raised
            for damaged in store.cache.set_aside:
                reporter.note(f"the item cache was damaged: set aside as {damaged.name} and rebuilt")
        context.map_warmed()  # started while summarising, unused if the map was kept: let it finish
        embedded: Embedded = results["embed"].value
        tree: list[Cluster] = results["hierarchy"].value
        shown = {c for cluster in tree for c in cluster.chat_ids}  # without what the auditor withheld
        summaries = [s for s in embedded.placed[0] if s.chat_id in shown]
        projected: list[ProjectedCluster] = results["export"].value.clusters
        reused = [name for name, r in results.items() if r.reused]
        usage = _usage(llms, embedder_obj)
        store.meta = RunMeta(
            created_at=store.meta.created_at,
            kura_version=_version(),
            mode=mode,
            settings={name: label(c) for name, c in components.items()}
            | dict(
                clusters_per_group=config.clusters_per_group,
                top_clusters=config.top_clusters,
                levels=config.levels,
                seed=config.seed,
            ),
            config=config.recorded(),
            inputs=context.report.as_dicts(),
            counts=dict(
                conversations_loaded=context.report.total_loaded,
                records_skipped=context.report.total_skipped,
                summarised=len(embedded.summaries),
                failed=len(runner.failures),
                base_clusters=len(results["clusters"].value),
                clusters=len(tree),
                top_clusters=sum(1 for c in tree if c.parent_id is None),
            )
            | ({"taxonomy_kept": context.taxonomy} if context.taxonomy else {}),
            seconds=dict(reporter.seconds),
            reused=reused,
            usage=usage,
            stages={name: r.record for name, r in results.items()},
        )
        store.save_meta()
        report = privacy_report(policy, {name: r.record.details for name, r in results.items()})
        store.write_json(artifacts.PRIVACY_REPORT, report)
        result = RunResult(
            path=store.path,
            summaries=summaries,
            clusters=projected,
            failures=runner.failures,
            load_report=context.report,
            mode=mode,
            seconds=dict(reporter.seconds),
            reused=reused,
            usage=usage,
            stages={name: r.record for name, r in results.items()},
            privacy=report,
        )
    finally:
        for model in llms:
            model.use_cache(None)
            await model.aclose()
        store.close()
    if config.outcomes is not None:  # after the run's lock is released: it writes through its own
        from kura.analysis.outcomes import attach_outcomes

        attach_outcomes(result.path, config.outcomes)
    return result


#: ``kura.run``: :func:`run_async` in a new event loop (same arguments).
run = blocking(run_async, "kura.run")


def _mode(summariser: Summariser, namer: ClusterNamer, hierarchy: HierarchyBuilder) -> str:
    if not (summariser.uses_llm or namer.uses_llm or hierarchy.uses_llm):
        return "extractive (no language model)"
    names = sorted({m.name for m in _llms_of(summariser, namer, hierarchy)})
    if not (summariser.uses_llm or hierarchy.uses_llm):  # a model for names only (kura.llm.local_names)
        return f"extractive, names of the top clusters by {', '.join(names)} (the rest from terms)"
    return f"language model ({', '.join(names) or summariser.name})"


def _llms_of(*components: Any) -> list[LLM]:
    """The language models behind the stages (each once), for caching and usage accounting."""
    from kura.llm.base import LLM

    found: dict[int, LLM] = {}
    for component in components:
        model = getattr(component, "llm", None)
        if isinstance(model, LLM):
            found.setdefault(id(model), model)
    return list(found.values())


def build_embedder(config: RunConfig) -> Embedder:
    """``minilm``/``hashing`` offline, or ``provider/model`` over an API (kura.llm.embeddings)."""
    if isinstance(config.embedder, str) and "/" in config.embedder:
        from kura.llm.embeddings import remote_embedder

        # An embedding API takes fewer requests in flight than a chat model.
        concurrency = min(config.concurrency, 16) if config.concurrency else None
        return remote_embedder(config.embedder, base_url=config.base_url, max_concurrency=concurrency)
    return get_embedder(config.embedder)


def _usage(llms: list[LLM], embedder: Embedder) -> dict | None:
    """Token usage and estimated cost per stage, or None when no language model ran."""
    from kura.llm.cost import usage_report
    from kura.llm.usage import UsageMeter

    meter = UsageMeter()
    models: dict[str, str] = {}
    for model in llms:
        meter.merge(model.usage)
        models.update({label: model.name for label in model.usage.stages})
    embed_usage = getattr(embedder, "usage", None)
    if isinstance(embed_usage, UsageMeter):
        meter.merge(embed_usage)
        models["embed"] = getattr(embedder, "qualified_name", embedder_name(embedder))
    if not llms and not meter.stages:
        return None
    return usage_report(meter, models)


def _version() -> str:
    from kura import __version__

    return __version__
