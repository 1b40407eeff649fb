"""The pipeline, declared: each stage's inputs, components, files, and how it computes.

    summarise -> embed -> clusters -> hierarchy --+
                   |                             +-> export
                   +----> map ---------------------+

Adding a stage means adding one ``Stage`` to ``STAGES`` and its compute function; the runner
(``kura.runner.runner``) does fingerprints, reuse, progress, failures and the record in
``run.json`` for it. ``Run`` is what the compute functions share: the raw inputs and the
loading options (only ``summarise`` reads them) and the components.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from kura.errors import KuraError
from kura.io import LoadReport, iter_conversations
from kura.privacy.policy import PrivacyPolicy
from kura.privacy.report import audit_tree, count_placeholders, summary_texts
from kura.privacy.thresholds import enforce_minimums
from kura.progress import StageBar
from kura.runner.executor import Executor, InProcess, OnFirstItem
from kura.runner.failures import record_failure
from kura.runner.runner import Stage, StageOutput
from kura.stages.assign import CentroidScorer
from kura.stages.cluster import groups_from_labels, name_base_clusters
from kura.stages.embed import embed_texts
from kura.stages.hierarchy import LevelInput
from kura.stages.project import place_clusters
from kura.stages.summarise import Extractor, summarise_stream
from kura.store import artifacts
from kura.store.database import write_database
from kura.store.export import write_parquet_exports
from kura.store.meta import Failure
from kura.store.run import RunStore
from kura.types import Cluster, Conversation, ConversationSummary, ProjectedCluster
from kura.types.tree import ClusterTree

Inputs = str | Path | Sequence[str | Path] | Sequence[Conversation]


@dataclass
class Run:
    """What the stages of one run share."""

    inputs: Inputs
    store: RunStore
    components: dict[str, Any]
    format: str = "auto"
    strict: bool = False
    columns: dict[str, str] | None = None
    extractors: Sequence[Extractor] = ()
    report: LoadReport = field(default_factory=LoadReport)
    #: Assign new conversations to the clusters of the last run instead of clustering again.
    keep_taxonomy: bool = False
    #: What keeping the taxonomy did: conversations assigned, and how many fell below the threshold.
    taxonomy: dict[str, Any] = field(default_factory=dict)
    #: Where per-item work (summaries, vectors) runs: this process by default.
    executor: Executor = field(default_factory=InProcess)
    #: The map's projector getting ready in the background (``warm_up_map``), or None.
    warming: threading.Thread | None = None

    def warm_up_map(self) -> None:
        """Start the projector's one-off work (UMAP's compilation: 5-10 s of CPU) in a thread,
        while this process waits on a language model. Results stay the same: the projector's
        ``warm_up`` promises it, and the map stage waits for the thread before it starts."""
        if self.warming is not None or (self.keep_taxonomy and self.store.exists(artifacts.CONVERSATION_TABLE)):
            return  # under way, or the map is kept from the last run (``place_beside_neighbours``)
        projector = self.components["projector"]

        def warm_up() -> None:
            try:
                projector.warm_up()
            except Exception:  # the map stage's own call meets the same error and reports it
                pass

        self.warming = threading.Thread(target=warm_up, name="kura-warm-up-map", daemon=True)
        self.warming.start()

    def map_warmed(self) -> None:
        """Wait for ``warm_up_map`` (if started): one projector call at a time."""
        if self.warming is not None:
            self.warming.join()


@dataclass
class Embedded:
    """The summaries and their vectors (same rows); a summary that could not be embedded has a
    row of NaN and is left out of everything after this stage."""

    summaries: list[ConversationSummary]
    vectors: np.ndarray

    def __len__(self) -> int:
        return len(self.summaries)

    @cached_property
    def placed(self) -> tuple[list[ConversationSummary], np.ndarray]:
        """The summaries that have a vector, and their vectors (worked out once, read by every later stage)."""
        ok = np.isfinite(self.vectors).all(axis=1) if len(self.vectors) else np.zeros(0, dtype=bool)
        if ok.all():
            return self.summaries, np.asarray(self.vectors)
        return [s for s, keep in zip(self.summaries, ok) if keep], np.asarray(self.vectors[ok])


@dataclass
class Exported:
    clusters: list[ProjectedCluster]
    summaries: list[ConversationSummary] = field(default_factory=list)
    points: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.clusters)


# -- summarise: load the inputs (streamed) and summarise each conversation ----------------------
async def summarise(run: Run, _: dict[str, Any], bar: StageBar) -> StageOutput:
    failures: list[Failure] = []
    cache = run.store.cache
    hits, misses = cache.hits, cache.misses
    policy: PrivacyPolicy = run.components["privacy"]
    conversations = run.store.write_through(
        artifacts.CONVERSATIONS,
        _conversations(run, failures),
        lambda conversation: policy.kept_conversation(conversation).model_dump_json(),
    )
    summariser = run.components["summariser"]
    # Waiting on a language model leaves the CPU idle: the map's projector gets ready meanwhile.
    executor = OnFirstItem(run.executor, run.warm_up_map) if summariser.uses_llm else run.executor
    summaries = await summarise_stream(
        conversations,
        summariser,
        cache=cache,
        failures=failures,
        extractors=run.extractors,
        on_item=bar.advance,
        executor=executor,
    )
    cache.flush()
    for failure in failures:
        record_failure(failure.id, failure.stage, failure.error)
    if not summaries:
        raise KuraError(
            "no conversation could be summarised"
            + (f": {failures[0].id}: {failures[0].error}" if failures else " (the input is empty)")
        )
    details = {}
    if policy.scrubber:
        summaries = scrub_metadata(policy, summaries)
        details["scrubbed"] = count_placeholders(t for s in summaries for t in summary_texts(s))
    return StageOutput(summaries, computed=cache.misses - misses, reused=cache.hits - hits, details=details)


def scrub_metadata(policy: PrivacyPolicy, summaries: list[ConversationSummary]) -> list[ConversationSummary]:
    """Text metadata (titles, a provider's own summary) scrubbed like the summaries; the user id
    stays, for the minimum-users check, and is left out of the exported tables."""
    places = [
        (i, key)
        for i, s in enumerate(summaries)
        for key, value in s.metadata.items()
        if isinstance(value, str) and key != policy.user_field
    ]
    texts, _ = policy.scrub_texts([summaries[i].metadata[key] for i, key in places])
    for (i, key), text in zip(places, texts):
        summaries[i].metadata[key] = text
    return summaries


def _conversations(run: Run, failures: list[Failure]) -> Iterator[Conversation]:
    """Conversations from paths or objects; a repeated id is recorded, never silently merged.

    Files get their repeated ids handled by ``kura.io`` (duplicates dropped, others renamed, all
    in the load report); objects passed directly are checked here.
    """
    inputs = [run.inputs] if isinstance(run.inputs, (str, Path)) else list(run.inputs)
    if not (inputs and all(isinstance(i, Conversation) for i in inputs)):
        paths = [str(i) for i in inputs if not isinstance(i, Conversation)]
        yield from iter_conversations(
            paths, format=run.format, strict=run.strict, report=run.report, columns=run.columns
        )
        return
    run.report.add_objects(len(inputs))
    seen: set[str] = set()
    for conversation in inputs:
        assert isinstance(conversation, Conversation)
        if conversation.chat_id in seen:
            failures.append(Failure(id=conversation.chat_id, stage="load", error="duplicate chat_id: kept the first"))
            continue
        seen.add(conversation.chat_id)
        yield conversation


def _write_summaries(store: RunStore, summaries: list[ConversationSummary]) -> None:
    store.write_models(artifacts.SUMMARIES, summaries, exclude={"embedding"})


def _read_summaries(store: RunStore) -> list[ConversationSummary]:
    return store.read_models(artifacts.SUMMARIES, ConversationSummary)


# -- embed ------------------------------------------------------------------------------------
async def embed(run: Run, inputs: dict[str, Any], bar: StageBar) -> StageOutput:
    summaries: list[ConversationSummary] = inputs["summarise"]
    embedder = run.components["embedder"]
    cache = run.store.cache
    hits, misses = cache.hits, cache.misses
    failed: dict[int, str] = {}
    bar.total(len(summaries))
    vectors = await embed_texts(
        [s.summary for s in summaries],
        embedder,
        cache=cache,
        on_batch=bar.advance,
        batch_size=getattr(embedder, "pipeline_batch_size", 256),
        failures=failed,
        executor=run.executor,
    )
    if len(failed) == len(summaries):
        raise KuraError(f"no summary could be embedded: {summaries[0].chat_id}: {failed[0]}")
    rows = np.full((len(summaries), vectors.shape[1]), np.nan, dtype=np.float32)
    rows[[i for i in range(len(summaries)) if i not in failed]] = vectors
    for i, error in sorted(failed.items()):
        record_failure(summaries[i].chat_id, "embed", error)
    return StageOutput(Embedded(summaries, rows), computed=cache.misses - misses, reused=cache.hits - hits)


def _read_embedded(store: RunStore) -> Embedded:
    return Embedded(_read_summaries(store), store.read_array(artifacts.VECTORS))


# -- base clusters ----------------------------------------------------------------------------
async def cluster(run: Run, inputs: dict[str, Any], bar: StageBar) -> StageOutput:
    summaries, vectors = inputs["embed"].placed
    if run.keep_taxonomy and run.store.exists(artifacts.CLUSTERS):
        previous = run.store.read_models(artifacts.CLUSTERS, Cluster)
        kept = assign_to_taxonomy(previous, summaries, vectors, run.taxonomy)
        bar.advance(run.taxonomy["assigned"])
        return StageOutput(kept, computed=run.taxonomy["assigned"], reused=len(summaries) - run.taxonomy["assigned"])
    policy: PrivacyPolicy = run.components["privacy"]
    labels = run.components["clusterer"].fit_predict(vectors)
    details: dict[str, Any] = {}
    if policy.enforces_minimums:
        users = [policy.user_of(s.metadata) for s in summaries]
        known = any(u is not None for u in users)
        labels, merged = enforce_minimums(
            labels,
            vectors,
            users if known else None,
            min_conversations=policy.min_conversations,
            min_users=policy.min_users,
        )
        details.update(merged=merged.as_dict(), users_known=known)
    groups = groups_from_labels(labels, vectors, [s.chat_id for s in summaries], [s.summary for s in summaries])
    base, scrubbed = policy.scrub_clusters(await name_base_clusters(groups, run.components["namer"]))
    if policy.scrubber:
        details["scrubbed"] = dict(scrubbed)
    bar.advance(len(base))
    return StageOutput(base, computed=len(base), details=details)


def assign_to_taxonomy(
    previous: list[Cluster], summaries: list[ConversationSummary], vectors: np.ndarray, report: dict[str, Any]
) -> list[Cluster]:
    """The last run's base clusters (ids and names unchanged), each new conversation added to the
    one whose centroid is nearest. Conversations gone from the input leave their clusters.

    "Possibly new" is judged as by ``kura classify`` (``kura.stages.assign.CentroidScorer``):
    against the members' held-out (leave-one-out) similarity to their nearest centroid. A new
    conversation below the calibrated threshold is still assigned (every conversation sits in
    the tree) but counted as possibly new.
    """
    row_of = {s.chat_id: i for i, s in enumerate(summaries)}
    kept = [c.model_copy(update={"chat_ids": [i for i in c.chat_ids if i in row_of]}) for c in previous]
    kept = [c for c in kept if c.chat_ids]
    known = {i for c in kept for i in c.chat_ids}
    new_rows = np.array([row_of[s.chat_id] for s in summaries if s.chat_id not in known], dtype=np.int64)
    if not kept:
        raise KuraError("--keep-taxonomy found no cluster of the last run among these conversations: run without it")
    members = np.array([row_of[i] for c in kept for i in c.chat_ids], dtype=np.int64)
    labels = np.repeat(np.arange(len(kept)), [len(c.chat_ids) for c in kept])
    scorer = CentroidScorer.fit(vectors[members], labels)
    below = 0
    if len(new_rows):
        scores = scorer.score(vectors[new_rows])
        below = int(scores.unassigned.sum())
        for row, k in zip(new_rows, scores.best[:, 0]):
            kept[int(k)].chat_ids.append(summaries[int(row)].chat_id)
    report.update(assigned=len(new_rows), below_threshold=below, threshold=round(scorer.threshold, 4))
    return kept


# -- hierarchy --------------------------------------------------------------------------------
async def hierarchy(run: Run, inputs: dict[str, Any], bar: StageBar) -> StageOutput:
    summaries, vectors = inputs["embed"].placed
    base: list[Cluster] = inputs["clusters"]
    if run.keep_taxonomy and run.store.exists(artifacts.TREE):
        tree = extend_tree(run.store.read_models(artifacts.TREE, Cluster), base)
    else:
        tree = await run.components["hierarchy"].build(level_input(base, vectors, summaries))
    policy: PrivacyPolicy = run.components["privacy"]
    details: dict[str, Any] = {}
    tree, scrubbed = policy.scrub_clusters(tree)
    if policy.scrubber:
        details["scrubbed"] = dict(scrubbed)
    if policy.auditor is not None:
        tree, details["audit"] = await audit_tree(policy, tree, summaries, vectors)
        shown = {c for cluster in tree for c in cluster.chat_ids}
        summaries = [s for s in summaries if s.chat_id in shown]
    ClusterTree(tree).validate([s.chat_id for s in summaries])  # a broken tree is a bug: never written
    bar.advance(len(tree) - len(base))
    return StageOutput(tree, computed=len(tree), details=details)


def extend_tree(previous: list[Cluster], base: list[Cluster]) -> list[Cluster]:
    """The last run's tree over the kept base clusters: every parent holds its children's members."""
    old = ClusterTree(previous)
    parent_of = {c.id: c.parent_id for c in previous}
    out = {c.id: c.model_copy(update={"parent_id": parent_of.get(c.id)}) for c in base}
    for leaf in base:
        for ancestor in old.path(leaf.id)[:-1] if leaf.id in old else []:
            if ancestor.id not in out:
                out[ancestor.id] = ancestor.model_copy(update={"chat_ids": []})
            out[ancestor.id].chat_ids.extend(leaf.chat_ids)
    return [c for c in out.values() if c.chat_ids]


def level_input(base: list[Cluster], vectors: np.ndarray, summaries: list[ConversationSummary]) -> LevelInput:
    """Each base cluster's centroid and its most typical summaries, for the builders."""
    row_of = {s.chat_id: i for i, s in enumerate(summaries)}
    centroids, typical = [], []
    for c in base:
        rows = np.array([row_of[i] for i in c.chat_ids])
        centroid = vectors[rows].mean(axis=0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        order = rows[np.argsort(-(vectors[rows] @ centroid), kind="stable")]
        centroids.append(centroid)
        typical.append([summaries[i].summary for i in order[:25]])
    return LevelInput(clusters=base, vectors=np.vstack(centroids), texts=typical)


# -- map --------------------------------------------------------------------------------------
async def project(run: Run, inputs: dict[str, Any], bar: StageBar) -> StageOutput:
    summaries, vectors = inputs["embed"].placed
    if run.keep_taxonomy and run.store.exists(artifacts.CONVERSATION_TABLE):
        points = place_beside_neighbours(run.store, summaries, vectors)
    else:
        run.map_warmed()
        points = np.asarray(run.components["projector"].fit_transform(vectors), dtype=np.float32)
    bar.advance(len(points))
    return StageOutput(points, computed=len(points))


def place_beside_neighbours(
    store: RunStore, summaries: list[ConversationSummary], vectors: np.ndarray, k: int = 10
) -> np.ndarray:
    """The last map, kept: known conversations stay where they were, each new one goes to the
    mean position of its ``k`` nearest known conversations (by their vectors)."""
    import pyarrow.parquet as pq
    from sklearn.neighbors import NearestNeighbors

    table = pq.read_table(store.file(artifacts.CONVERSATION_TABLE), columns=["chat_id", "x", "y"]).to_pydict()
    where = {c: (x, y) for c, x, y in zip(table["chat_id"], table["x"], table["y"])}
    points = np.zeros((len(summaries), 2), dtype=np.float32)
    known = np.array([s.chat_id in where for s in summaries])
    for i in np.flatnonzero(known):
        points[i] = where[summaries[i].chat_id]
    new = np.flatnonzero(~known)
    if len(new) and known.any():
        index = NearestNeighbors(n_neighbors=min(k, int(known.sum()))).fit(vectors[known])
        neighbours = index.kneighbors(vectors[new], return_distance=False)
        points[new] = points[np.flatnonzero(known)][neighbours].mean(axis=1)
    return points


# -- exports ----------------------------------------------------------------------------------
async def export(run: Run, inputs: dict[str, Any], bar: StageBar) -> StageOutput:
    summaries, _ = inputs["embed"].placed
    tree = ClusterTree(inputs["hierarchy"])
    points = np.asarray(inputs["map"])
    # Conversations the privacy auditor withheld are in no cluster: they are shown nowhere.
    base_of = tree.base_of()
    shown = np.array([s.chat_id in base_of for s in summaries], dtype=bool)
    if not shown.all():
        summaries, points = [s for s, keep in zip(summaries, shown) if keep], points[shown]
    policy: PrivacyPolicy = run.components["privacy"]
    if policy.profile == "strict":  # the user id served the minimum-users check; it is not shown
        summaries = [s.model_copy(update={"metadata": _without(s.metadata, policy.user_field)}) for s in summaries]
    placed = place_clusters(tree, points, {s.chat_id: i for i, s in enumerate(summaries)})
    return StageOutput(Exported(placed, summaries, points), computed=len(placed))


def _without(metadata: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in metadata.items() if k != key}


def _write_exports(store: RunStore, value: Exported) -> None:
    store.write_models(artifacts.MAP, value.clusters)
    assert value.points is not None
    write_parquet_exports(store, value.summaries, value.clusters, value.points)
    write_database(store)


def _models(artifact: artifacts.Artifact, model: type) -> Any:
    return lambda store: store.read_models(artifact, model)


def _write_models(artifact: artifacts.Artifact) -> Any:
    return lambda store, models: store.write_models(artifact, models)


def _keeps_taxonomy(run: Run | None) -> dict[str, bool]:
    return {"keep_taxonomy": bool(run and run.keep_taxonomy)}


STAGES: tuple[Stage, ...] = (
    Stage(
        name="summarise",
        label="Summarising",
        inputs=(),
        components=("summariser",),
        outputs=(artifacts.CONVERSATIONS, artifacts.SUMMARIES),
        compute=summarise,
        write=_write_summaries,
        read=_read_summaries,
        per_item=True,
        always=True,
    ),
    Stage(
        name="embed",
        label="Embedding",
        inputs=("summarise",),
        components=("embedder",),
        outputs=(artifacts.VECTORS,),
        compute=embed,
        write=lambda store, value: store.write_array(artifacts.VECTORS, value.vectors),
        read=_read_embedded,
        per_item=True,
    ),
    Stage(
        name="clusters",
        label="Clustering",
        inputs=("embed",),
        components=("clusterer", "namer", "privacy"),
        outputs=(artifacts.CLUSTERS,),
        compute=cluster,
        write=_write_models(artifacts.CLUSTERS),
        read=_models(artifacts.CLUSTERS, Cluster),
        settings=_keeps_taxonomy,
    ),
    Stage(
        name="hierarchy",
        label="Building hierarchy",
        inputs=("embed", "clusters"),
        components=("hierarchy", "privacy"),
        outputs=(artifacts.TREE,),
        compute=hierarchy,
        write=_write_models(artifacts.TREE),
        read=_models(artifacts.TREE, Cluster),
        settings=_keeps_taxonomy,
    ),
    Stage(
        name="map",
        label="Laying out the map",
        inputs=("embed",),
        components=("projector",),
        outputs=(artifacts.POINTS,),
        compute=project,
        write=lambda store, points: store.write_array(artifacts.POINTS, points),
        read=lambda store: np.asarray(store.read_array(artifacts.POINTS)),
        settings=_keeps_taxonomy,
    ),
    Stage(
        name="export",
        label="Writing tables",
        # summarise too: the tables carry what only the loaded conversations hold (creation times).
        inputs=("summarise", "embed", "hierarchy", "map"),
        components=("privacy",),
        outputs=(artifacts.MAP, artifacts.CONVERSATION_TABLE, artifacts.CLUSTER_TABLE, artifacts.DATABASE),
        compute=export,
        write=_write_exports,
        read=lambda store: Exported(store.read_models(artifacts.MAP, ProjectedCluster)),
    ),
)
