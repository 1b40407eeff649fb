"""The whole job in one call: load -> summarise -> embed -> cluster -> hierarchy -> map -> export.

Every stage writes into the run directory and records a fingerprint of its inputs and settings
in ``run.json``. On a re-run, per-item work (summaries, vectors) comes from the item cache, and a
whole stage is reused when its fingerprint is unchanged, so changing a setting recomputes only
what depends on it and a killed run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kura.embedders import Embedder, embedder_name, get_embedder
from kura.errors import ConfigError, KuraError
from kura.io import LoadReport, iter_conversations
from kura.progress import Reporter
from kura.stages.cluster import Clusterer, get_clusterer, groups_from_labels, name_base_clusters
from kura.stages.embed import embed_texts
from kura.stages.hierarchy import EmbeddingHierarchy, HierarchyBuilder, LevelInput
from kura.stages.naming import ClusterNamer, DistinctiveTermsNamer
from kura.stages.project import Projector, cluster_levels, get_projector, place_clusters
from kura.stages.summarise import ExtractiveSummariser, Extractor, Summariser, summarise_stream
from kura.store import RunStore, content_key
from kura.store.export import write_parquet_exports
from kura.types import Cluster, Conversation, ConversationSummary, ProjectedCluster

if TYPE_CHECKING:
    from kura.llm import LLM

Inputs = str | Path | Sequence[str | Path] | Sequence[Conversation]


@dataclass
class RunResult:
    """What a run produced; everything is also on disk under ``path``."""

    path: Path
    summaries: list[ConversationSummary]
    clusters: list[ProjectedCluster]
    failures: list[dict]
    load_report: LoadReport
    mode: str
    seconds: dict[str, float] = field(default_factory=dict)
    reused: list[str] = field(default_factory=list)
    #: Language-model usage per stage with estimated cost (``kura.llm.usage_report``); None offline.
    usage: dict | None = None

    @property
    def roots(self) -> list[ProjectedCluster]:
        return [c for c in self.clusters if c.parent_id is None]


def run(inputs: Inputs, out: str | Path = "kura-run", **settings: Any) -> RunResult:
    """Run the whole pipeline; see :func:`run_async` for the settings."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_async(inputs, out, **settings))
    raise ConfigError("kura.run() was called inside an event loop: use `await kura.run_async(...)`")


async def run_async(
    inputs: Inputs,
    out: str | Path = "kura-run",
    *,
    summariser: Summariser | None = None,
    embedder: str | Embedder = "minilm",
    clusterer: str | Clusterer = "kmeans",
    namer: ClusterNamer | None = None,
    hierarchy: HierarchyBuilder | None = None,
    projector: str | Projector = "umap",
    clusters_per_group: int = 10,
    top_clusters: int | None = None,
    levels: int | None = None,
    seed: int = 0,
    format: str = "auto",
    strict: bool = False,
    columns: dict[str, str] | None = None,
    extractors: Iterable[Extractor] = (),
    progress: bool = False,
    reporter: Reporter | None = None,
    llm: str | LLM | None = None,
    concurrency: int | None = None,
) -> RunResult:
    """Run every stage into the run directory ``out`` and return the result.

    ``inputs`` are files or folders in any supported format (or ``Conversation`` objects).
    Without ``llm`` (and without a ``summariser``) the run is extractive: no language model, no
    API key. With ``llm`` (a model string like ``openai/gpt-4o-mini``, ``local`` or ``fake/echo``,
    or a ``kura.llm.LLM``) summaries, cluster names and the hierarchy come from that model, at
    most ``concurrency`` requests at a time; objects passed as ``summariser``, ``namer`` or
    ``hierarchy`` still win. ``embedder`` may also name an API model (``openai/text-embedding-3-small``).
    """
    if clusters_per_group < 1:
        raise ConfigError(f"clusters_per_group={clusters_per_group} should be >= 1")
    reporter = reporter or Reporter(enabled=progress)
    llm_obj = None
    if llm is not None:
        from kura.llm import ClioHierarchy, LLMClusterNamer, LLMSummariser, get_llm

        llm_obj = get_llm(llm, max_concurrency=concurrency)
        summariser = summariser or LLMSummariser(llm_obj)
        namer = namer or LLMClusterNamer(llm_obj)
        hierarchy = hierarchy or ClioHierarchy(llm_obj, top_clusters=top_clusters, levels=levels, seed=seed)
    summariser = summariser or ExtractiveSummariser()
    embedder_obj = _embedder(embedder)
    clusterer_obj = get_clusterer(clusterer, clusters_per_group=clusters_per_group, seed=seed)
    namer = namer or DistinctiveTermsNamer()
    hierarchy = hierarchy or EmbeddingHierarchy(top_clusters=top_clusters, levels=levels, seed=seed, namer=namer)
    projector_obj = get_projector(projector, seed=seed)
    mode = f"language model ({llm_obj.name})" if llm_obj is not None else _mode(summariser, namer, hierarchy)
    llms = _llms_of(summariser, namer, hierarchy)
    for model in llms:
        model.check()  # a missing key or package: one clear error now, not one per conversation

    store = RunStore(out)
    report = LoadReport()
    reused: list[str] = []
    for model in llms:  # every answer is cached in the run directory; usage is counted per run
        model.use_cache(store.cache)
        model.usage.reset()
    if hasattr(getattr(embedder_obj, "usage", None), "reset"):
        embedder_obj.usage.reset()  # type: ignore[attr-defined]
    try:
        # 1-2. Load and summarise, streaming: conversations are written out as they pass.
        failures: list[dict] = []
        with reporter.stage("Summarising") as bar:
            summaries = await summarise_stream(
                store.write_through(
                    "conversations.jsonl",
                    _conversations(inputs, format, strict, columns, report, failures),
                    Conversation.model_dump_json,
                ),
                summariser,
                cache=store.cache,
                failures=failures,
                extractors=extractors,
                on_item=bar.advance,
            )
        store.cache.flush()
        if not summaries:
            raise KuraError(
                "no conversation could be summarised"
                + (f": {failures[0]['id']}: {failures[0]['error']}" if failures else " (the input is empty)")
            )
        store.write_models("summaries.jsonl", summaries, exclude={"embedding"})
        store.write_failures(failures)

        # 3. Embed the summaries. One the embedder could not embed is recorded and left out of
        # the map (and of summaries.jsonl, so the later stages' fingerprints see it missing).
        embed_failures: dict[int, str] = {}
        with reporter.stage("Embedding", total=len(summaries)) as bar:
            vectors = embed_texts(
                [s.summary for s in summaries],
                embedder_obj,
                cache=store.cache,
                on_batch=bar.advance,
                batch_size=getattr(embedder_obj, "pipeline_batch_size", 256),
                failures=embed_failures,
            )
        if embed_failures:
            summaries = _drop_unembedded(summaries, embed_failures, failures)
            store.write_models("summaries.jsonl", summaries, exclude={"embedding"})
            store.write_failures(failures)
        summaries_digest = _digest(store.file("summaries.jsonl"))
        embed_fp = content_key(summaries_digest, embedder_name(embedder_obj))
        chat_ids = [s.chat_id for s in summaries]
        chat_index = {c: i for i, c in enumerate(chat_ids)}

        # 4. Base clusters.
        texts = [s.summary for s in summaries]
        base_fp = content_key(embed_fp, clusterer_obj.name, namer.name)
        if store.stage_done("clusters", base_fp, "clusters.jsonl"):
            base = store.read_models("clusters.jsonl", Cluster)
            reused.append("clusters")
        else:
            with reporter.stage("Clustering") as bar:
                labels = clusterer_obj.fit_predict(vectors)
                groups = groups_from_labels(labels, vectors, chat_ids, texts)
                base = await name_base_clusters(groups, namer)
                bar.advance(len(base))
            store.write_models("clusters.jsonl", base)
            # A cluster whose naming failed carries a stand-in name: the stage is left unfinished
            # so the next run asks again (answers that did come back are in the cache).
            naming_failures = list(getattr(namer, "failures", []))
            failures.extend(naming_failures)
            if not naming_failures:
                store.finish_stage("clusters", base_fp, count=len(base), clusterer=clusterer_obj.name)

        # 5. Hierarchy (its fingerprint covers the base names, which a retried naming may change).
        tree_fp = content_key(base_fp, _digest(store.file("clusters.jsonl")), hierarchy.name)
        if store.stage_done("hierarchy", tree_fp, "meta_clusters.jsonl"):
            tree = store.read_models("meta_clusters.jsonl", Cluster)
            reused.append("hierarchy")
        else:
            with reporter.stage("Building hierarchy") as bar:
                tree = await hierarchy.build(_level_input(base, vectors, chat_index, texts))
                bar.advance(len(tree) - len(base))
            _check_tree(tree, chat_ids)
            store.write_models("meta_clusters.jsonl", tree)
            tree_failures = list(getattr(hierarchy, "failures", []))
            failures.extend(tree_failures)
            if not tree_failures:
                store.finish_stage("hierarchy", tree_fp, count=len(tree), builder=hierarchy.name)

        # 6. Map.
        map_fp = content_key(embed_fp, projector_obj.name)
        if store.stage_done("map", map_fp, "points.npy"):
            points = np.load(store.file("points.npy"))
            reused.append("map")
        else:
            with reporter.stage("Laying out the map") as bar:
                points = projector_obj.fit_transform(vectors)
                bar.advance(len(points))
            store.write_binary("points.npy", lambda f: np.save(f, points.astype(np.float32)))
            store.finish_stage("map", map_fp, projector=projector_obj.name)
        levels_by_id = cluster_levels(tree)
        projected = place_clusters(tree, points, chat_index, levels_by_id)
        store.write_models("dimensionality.jsonl", projected)

        # 7. Exports for SQL and other tools.
        write_parquet_exports(store, summaries, projected, points)
        store.write_failures(failures)
        usage = _usage(llms, embedder_obj)
        store.meta["usage"] = usage
        store.meta.update(
            kura_version=_version(),
            mode=mode,
            settings=dict(
                summariser=summariser.name,
                embedder=embedder_name(embedder_obj),
                clusterer=clusterer_obj.name,
                namer=namer.name,
                hierarchy=hierarchy.name,
                projector=projector_obj.name,
                clusters_per_group=clusters_per_group,
                top_clusters=top_clusters,
                levels=levels,
                seed=seed,
            ),
            inputs=report.as_dicts(),
            counts=dict(
                conversations_loaded=report.total_loaded,
                records_skipped=report.total_skipped,
                summarised=len(summaries),
                failed=len(failures),
                base_clusters=len(base),
                clusters=len(tree),
                top_clusters=sum(1 for c in tree if c.parent_id is None),
            ),
            seconds=reporter.seconds,
            reused=reused,
        )
        store.save_meta()
        return RunResult(
            path=store.path,
            summaries=summaries,
            clusters=projected,
            failures=failures,
            load_report=report,
            mode=mode,
            seconds=dict(reporter.seconds),
            reused=reused,
            usage=usage,
        )
    finally:
        for model in llms:
            model.use_cache(None)
            await model.aclose()
        store.close()


def _conversations(
    inputs: Inputs, format: str, strict: bool, columns: dict | None, report: LoadReport, failures: list[dict]
) -> Iterator[Conversation]:
    """Conversations from paths or objects; a repeated id is recorded, never silently merged.

    Files get their repeated ids handled by ``kura.io`` (duplicates dropped, others renamed, all
    in the load report); objects passed directly are checked here.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    items = list(inputs)
    if not (items and all(isinstance(i, Conversation) for i in items)):
        yield from iter_conversations(items, format=format, strict=strict, report=report, columns=columns)  # type: ignore[arg-type]
        return
    # Checked just above: every item is a Conversation.
    conversations: list[Conversation] = items  # type: ignore[assignment]
    report.add_objects(len(conversations))
    seen: set[str] = set()
    for conversation in conversations:
        if conversation.chat_id in seen:
            failures.append({"id": conversation.chat_id, "stage": "load", "error": "duplicate chat_id: kept the first"})
            continue
        seen.add(conversation.chat_id)
        yield conversation


def _drop_unembedded(
    summaries: list[ConversationSummary], embed_failures: dict[int, str], failures: list[dict]
) -> list[ConversationSummary]:
    """The summaries that got a vector; the others go to ``failures`` (all failing is an error)."""
    failures.extend(
        {"id": summaries[i].chat_id, "stage": "embed", "error": error} for i, error in sorted(embed_failures.items())
    )
    kept = [s for i, s in enumerate(summaries) if i not in embed_failures]
    if not kept:
        raise KuraError(f"no summary could be embedded: {summaries[0].chat_id}: {embed_failures[0]}")
    return kept


def _level_input(base: list[Cluster], vectors: np.ndarray, chat_index: dict[str, int], texts: list[str]) -> LevelInput:
    centroids, typical = [], []
    for c in base:
        rows = np.array([chat_index[i] for i in c.chat_ids])
        centroid = vectors[rows].mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        order = rows[np.argsort(-(vectors[rows] @ centroid), kind="stable")]
        centroids.append(centroid)
        typical.append([texts[i] for i in order[:25]])
    return LevelInput(clusters=base, vectors=np.vstack(centroids), texts=typical)


def _check_tree(tree: list[Cluster], chat_ids: list[str]) -> None:
    """Every conversation under exactly one root, every parent known: a broken tree is a bug."""
    ids = {c.id for c in tree}
    children: dict[str, int] = {}
    for c in tree:
        if c.parent_id is not None:
            if c.parent_id not in ids:
                raise KuraError(f"cluster {c.id} points to a missing parent {c.parent_id}")
            children[c.parent_id] = children.get(c.parent_id, 0) + 1
    covered = [i for c in tree if c.parent_id is None for i in c.chat_ids]
    if sorted(covered) != sorted(chat_ids):
        raise KuraError("the hierarchy does not place every conversation under exactly one root")


def _mode(summariser: Summariser, namer: ClusterNamer, hierarchy: HierarchyBuilder) -> str:
    if not (summariser.uses_llm or namer.uses_llm or hierarchy.uses_llm):
        return "extractive (no language model)"
    names = sorted({m.name for m in _llms_of(summariser, namer, hierarchy)})
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


def _embedder(spec: str | Embedder) -> Embedder:
    """``minilm``/``hashing`` offline, or ``provider/model`` over an API (kura.llm.embeddings)."""
    if isinstance(spec, str) and "/" in spec:
        from kura.llm.embeddings import remote_embedder

        return remote_embedder(spec)
    return get_embedder(spec)


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


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _version() -> str:
    from kura import __version__

    return __version__
