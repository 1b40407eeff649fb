"""A finished run as a saved taxonomy that classifies new conversations.

    taxonomy = kura.Taxonomy.load("runs/march")
    for a in taxonomy.assign(conversations):
        print(a.chat_id, a.cluster_name, a.confidence, "possibly new" if a.unassigned else "")

New conversations are summarised and embedded exactly as the run's were (``components_for``
rebuilds the run's summariser and embedder from ``run.json``), then each goes to the base cluster
whose centroid is nearest. Its confidence is calibrated on the run's own conversations: the share
of them whose held-out (leave-one-out) similarity to their nearest centroid is no higher than the
new one's. Below ``alpha`` (default 0.05) it is "unassigned (possibly new)"; the cosine threshold
this implies is derived from the data, never fixed (see ``kura.stages.assign`` and
docs/classify.md for how it was chosen and what it measures on CLINC150).

With a language model (``chooser``), the model picks among the ``top_k`` nearest clusters, shown
by name, description and typical member requests, or says none fits. ``kura classify`` writes
the result as a run directory the explorer opens (``kura.runner.classify``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel

from kura.embedders import Embedder, HashingEmbedder, get_embedder
from kura.embedders.base import run_sync
from kura.errors import ConfigError, InputError
from kura.llm.chooser import Candidate, LLMClusterChooser
from kura.llm.errors import describe as describe_error
from kura.privacy.policy import SCRUBBED
from kura.runner.executor import Executor, InProcess
from kura.runner.failures import record_failure
from kura.runner.graph import Embedded
from kura.stages.assign import CentroidScorer
from kura.stages.embed import embed_texts
from kura.stages.summarise import ExtractiveSummariser, Summariser, summarise_stream
from kura.store import artifacts
from kura.store.cache import ItemCache, content_key
from kura.store.meta import Failure
from kura.store.run import RunStore, file_digest, is_run_dir
from kura.types import Cluster, Conversation, ConversationSummary
from kura.types.tree import ClusterTree

#: What a run must hold to serve as a taxonomy.
NEEDED = (artifacts.SUMMARIES, artifacts.VECTORS, artifacts.TREE, artifacts.MAP, artifacts.CONVERSATION_TABLE)
#: Typical member requests shown to a language model per candidate cluster.
TYPICAL_EXAMPLES = 3


class Assignment(BaseModel):
    """Where one new conversation goes. ``cluster_id`` is the best cluster even when
    ``unassigned``: the nearest known topic of something possibly new is worth showing."""

    chat_id: str
    cluster_id: str
    cluster_name: str
    #: Root to base cluster: ids, and names in the same order.
    path: list[str]
    path_names: list[str]
    #: Cosine to the chosen cluster's centroid.
    similarity: float
    #: Share of the run's own conversations that fit their cluster no better (0..1).
    confidence: float
    unassigned: bool
    #: The ``top_k`` nearest base clusters, best first.
    candidates: list[str]
    #: ``embedding``, ``llm``, or ``embedding (llm failed)``.
    decided_by: str


class Taxonomy:
    """The base clusters and hierarchy of a finished run, their centroids, and the calibration."""

    def __init__(
        self,
        path: Path,
        tree: ClusterTree[Cluster],
        base: list[Cluster],
        scorer: CentroidScorer,
        typical: list[list[str]],
        digest: str,
    ):
        self.path = path
        self.tree = tree
        #: The base clusters, in the scorer's centroid order.
        self.base = base
        self.scorer = scorer
        self.typical = typical
        #: The run's tree, summaries and vectors by content: changes when the run changes.
        self.digest = digest

    @classmethod
    def load(cls, run_dir: str | Path, *, alpha: float = 0.05) -> Taxonomy:
        """Read a finished run (``kura run ... --out RUN_DIR``) and calibrate on its conversations."""
        path = Path(run_dir)
        if not is_run_dir(path):
            raise InputError(
                "is not a Kura run directory (no run.json): give the --out of a finished `kura run`", path=str(path)
            )
        store = RunStore(path)
        missing = [a.file for a in NEEDED if not store.exists(a)]
        if missing:
            raise InputError(
                f"the run is not finished ({', '.join(missing)} missing): run `kura run` on it again", path=str(path)
            )
        summaries, vectors = Embedded(
            store.read_models(artifacts.SUMMARIES, ConversationSummary), store.read_array(artifacts.VECTORS)
        ).placed
        tree = ClusterTree(store.read_models(artifacts.TREE, Cluster))
        row_of = {s.chat_id: i for i, s in enumerate(summaries)}
        base = [leaf for leaf in tree.leaves() if any(i in row_of for i in leaf.chat_ids)]
        if not base:
            raise InputError(
                "the run's clusters hold none of its summaries: run `kura run` on it again", path=str(path)
            )
        members = [np.array([row_of[i] for i in c.chat_ids if i in row_of], dtype=np.int64) for c in base]
        labels = np.repeat(np.arange(len(base)), [len(m) for m in members])
        scorer = CentroidScorer.fit(vectors[np.concatenate(members)], labels, alpha=alpha)
        typical = []
        for k, rows in enumerate(members):
            closest = rows[np.argsort(-(vectors[rows] @ scorer.centroids[k]), kind="stable")[:TYPICAL_EXAMPLES]]
            typical.append([summaries[i].summary for i in closest])
        digest = content_key(
            [file_digest(store.file(a)) for a in (artifacts.TREE, artifacts.SUMMARIES, artifacts.VECTORS)]
        )
        return cls(path, tree, base, scorer, typical, digest)

    def fingerprint_parts(self) -> list[object]:
        """What a classification's fingerprint needs of the taxonomy (kura.runner.params)."""
        return [self.digest, self.scorer.alpha]

    @property
    def threshold(self) -> float:
        return self.scorer.threshold

    # -- classifying --------------------------------------------------------------------------
    def assign(
        self,
        conversations: Sequence[Conversation],
        *,
        chooser: LLMClusterChooser | None = None,
        top_k: int = 5,
        embedder: str | Embedder | None = None,
        summariser: Summariser | None = None,
        cache: ItemCache | None = None,
    ) -> list[Assignment]:
        """Summarise, embed and classify ``conversations`` with the run's own summariser and
        embedder (or the ones given). A conversation that cannot be summarised or embedded is
        left out and recorded as a failure (``kura.runner.failures``)."""
        return run_sync(
            self.assign_async(
                conversations, chooser=chooser, top_k=top_k, embedder=embedder, summariser=summariser, cache=cache
            )
        )

    async def assign_async(
        self,
        conversations: Sequence[Conversation],
        *,
        chooser: LLMClusterChooser | None = None,
        top_k: int = 5,
        embedder: str | Embedder | None = None,
        summariser: Summariser | None = None,
        cache: ItemCache | None = None,
    ) -> list[Assignment]:
        summariser, embedder = components_for(self.path, embedder=embedder, summariser=summariser)
        failures: list[Failure] = []
        summaries = await summarise_stream(conversations, summariser, cache=cache, failures=failures)
        for failure in failures:
            record_failure(failure.id, failure.stage, failure.error)
        failed: dict[int, str] = {}
        vectors = await embed_texts([s.summary for s in summaries], embedder, cache=cache, failures=failed)
        for i, error in sorted(failed.items()):
            record_failure(summaries[i].chat_id, "embed", error)
        embedded = [s for i, s in enumerate(summaries) if i not in failed]
        return await self.classify(embedded, vectors, chooser=chooser, top_k=top_k)

    async def classify(
        self,
        summaries: Sequence[ConversationSummary],
        vectors: np.ndarray,
        *,
        chooser: LLMClusterChooser | None = None,
        top_k: int = 5,
        executor: Executor | None = None,
    ) -> list[Assignment]:
        """Classify summaries already embedded (same rows as ``vectors``). The ``chooser``'s
        calls, one per summary, go to the ``executor`` (this process by default)."""
        if not len(summaries):
            return []
        dims = self.scorer.centroids.shape[1]
        if vectors.shape[1] != dims:
            raise ConfigError(
                f"the embedder gives {vectors.shape[1]}-dimensional vectors but the taxonomy's are {dims}-dimensional: "
                "classify with the run's own embedder (leave --embedder out)"
            )
        scores = self.scorer.score(vectors, top_k=top_k)
        picks: list[int | None | Exception] = [0] * len(summaries)
        if chooser is not None:
            asks = ((i, s.summary, [self.candidate(int(k)) for k in scores.best[i]]) for i, s in enumerate(summaries))
            async for (i, _, _), pick in (executor or InProcess()).map(
                partial(_choose, chooser), asks, limit=chooser.llm.max_concurrency
            ):
                picks[i] = pick
        out = []
        for i, (summary, pick) in enumerate(zip(summaries, picks)):
            decided_by = "embedding" if chooser is None else "llm"
            if isinstance(pick, Exception):  # an interrupt or cancellation is raised by the executor
                record_failure(summary.chat_id, "classify", describe_error(pick))
                pick, decided_by = 0, "embedding (llm failed)"
            column = 0 if pick is None else pick
            k = int(scores.best[i, column])
            similarity = float(scores.similarity[i, column])
            if decided_by == "llm":
                unassigned = pick is None
                confidence = float(self.scorer.confidence(np.array([similarity]))[0])
            else:
                unassigned, confidence = bool(scores.unassigned[i]), float(scores.confidence[i])
            path = self.tree.path(self.base[k].id)
            out.append(
                Assignment(
                    chat_id=summary.chat_id,
                    cluster_id=self.base[k].id,
                    cluster_name=self.base[k].name,
                    path=[c.id for c in path],
                    path_names=[c.name for c in path],
                    similarity=round(similarity, 6),
                    confidence=round(confidence, 6),
                    unassigned=unassigned,
                    candidates=[self.base[int(j)].id for j in scores.best[i]],
                    decided_by=decided_by,
                )
            )
        return out

    def candidate(self, k: int) -> Candidate:
        """Base cluster ``k`` as a language model sees it."""
        return self.base[k].name, self.base[k].description, self.typical[k]


async def _choose(chooser: LLMClusterChooser, ask: tuple[int, str, list[Candidate]]) -> int | None:
    """The per-item work an executor runs: one summary and its nearest clusters."""
    return await chooser.choose(ask[1], ask[2])


def components_for(
    run_dir: str | Path, *, embedder: str | Embedder | None = None, summariser: Summariser | None = None
) -> tuple[Summariser, Embedder]:
    """The summariser and embedder a run used, rebuilt from its ``run.json``: from the recorded
    ``kura.RunConfig`` (its ``llm`` and ``embedder``, API models included), else from the labels
    of older runs (the extractive summariser, the offline embedders). Each is checked to give
    back exactly the recorded label. Anything else needs ``summariser=`` / ``embedder=``.
    """
    path = Path(run_dir)
    meta = RunStore(path).meta
    recorded = str(meta.settings.get("summariser", ""))
    if recorded.endswith(SCRUBBED):  # a --privacy strict run: new conversations are scrubbed too
        from kura.privacy.policy import ScrubbedSummariser
        from kura.privacy.scrub import load_scrubber

        inner, embedder_obj = _components_for(
            path, meta, {**meta.settings, "summariser": recorded[: -len(SCRUBBED)]}, embedder, summariser
        )
        return ScrubbedSummariser(inner, load_scrubber().label), embedder_obj
    return _components_for(path, meta, meta.settings, embedder, summariser)


def _components_for(
    path: Path, meta: Any, settings: dict[str, Any], embedder: str | Embedder | None, summariser: Summariser | None
) -> tuple[Summariser, Embedder]:
    summariser, embedder = _from_config(meta.config, settings, summariser, embedder)
    if summariser is None:
        label = str(settings.get("summariser", ""))
        words = re.fullmatch(r"extractive:v2:(\d+)", label)
        if not words:
            raise ConfigError(
                f"{path}: the run's summariser {label!r} cannot be rebuilt yet (only extractive runs can): "
                "pass summariser= from Python with the run's own summariser"
            )
        summariser = ExtractiveSummariser(max_words=int(words.group(1)))
    if embedder is not None:
        if isinstance(embedder, str) and "/" in embedder:
            from kura.llm.embeddings import remote_embedder

            return summariser, remote_embedder(embedder)
        return summariser, get_embedder(embedder)
    label = str(settings.get("embedder", ""))
    kind, _, rest = label.partition(":")
    rebuilt: Embedder | None = None
    if kind.startswith("minilm"):
        rebuilt = get_embedder("minilm")
    elif kind == "hashing" and rest.isdigit():
        rebuilt = HashingEmbedder(dim=int(rest))
    if rebuilt is None or rebuilt.name != label:
        raise ConfigError(
            f"{path}: the run's embedder {label!r} cannot be rebuilt here: pass --embedder (embedder=) naming the same model"
        )
    return summariser, rebuilt


def _from_config(
    recorded: dict[str, Any], settings: dict[str, Any], summariser: Summariser | None, embedder: str | Embedder | None
) -> tuple[Summariser | None, str | Embedder | None]:
    """What the run's recorded RunConfig rebuilds, where it gives back the recorded labels."""
    from kura.config import RunConfig
    from kura.pipeline import build_embedder

    try:
        config = RunConfig.of(**{k: v for k, v in recorded.items() if k in RunConfig.model_fields})
    except ConfigError:
        return summariser, embedder
    if summariser is None and isinstance(config.llm, str):
        from kura.llm import LLMSummariser, get_llm

        candidate = LLMSummariser(get_llm(config.llm, base_url=config.base_url))
        if candidate.name == settings.get("summariser"):
            summariser = candidate
    if embedder is None and isinstance(config.embedder, str):
        try:
            rebuilt = build_embedder(config)
        except ConfigError:  # an object's label, not a name: the labels below decide
            return summariser, embedder
        if rebuilt.name == settings.get("embedder"):
            embedder = rebuilt
    return summariser, embedder
