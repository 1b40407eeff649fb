"""Clio's hierarchy (appendix G of the Clio paper), built level by level with a language model.

For each level above the base, with a target size from ``level_sizes`` (geometric, base count
down to ``top_clusters``):

1. neighbourhoods: k-means over the clusters' centroid vectors, about ``neighbourhood_size``
   clusters each, so every prompt sees related clusters and stays short;
2. candidates: per neighbourhood, the model proposes higher-level names (about
   ``candidates_factor`` x its share of the target);
3. de-duplication: the model merges near-duplicate candidates across neighbourhoods into at most
   the target count;
4. assignment: children go to their best candidate, ``assign_batch`` children per request, the
   candidates numbered in a shuffled order per request (against position bias);
5. renaming: each parent is named from the children it actually received.

Guarantees (Kura 0.5 had neither the first nor the third: #125, single-child parents):
- it terminates: a fixed number of levels, and each level has at most ``target < n`` parents, so
  by pigeonhole some parent gets two children and the level shrinks;
- a parent with one child is never made: the child moves up instead;
- every child gets exactly one parent: a child whose assignment failed joins the parent whose
  children are closest to it, so every conversation ends under exactly one root.

A call that still fails after its retries is recorded in ``failures``, the level carries on with
an offline stand-in (nearest parent, distinctive-terms name), and the next run asks again.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BaseModel, Field, create_model

from kura.llm.base import LLM
from kura.llm.errors import describe as describe_error
from kura.llm.namer import ModelClusterName, check_name, offline_names, tidy
from kura.llm.prompts import assign_messages, candidates_messages, deduplicate_messages, describe, rename_messages
from kura.llm.registry import get_llm
from kura.llm.schema import cap_lengths, response_schema
from kura.runner.failures import record_failure
from kura.stages.hierarchy import HierarchyBuilder, LevelInput, interleave
from kura.stages.naming import ClusterGroup, cluster_id
from kura.stages.ward import unit
from kura.store.cache import content_key
from kura.types import Cluster, GeneratedCluster

STAGE = "hierarchy"
Name = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(check_name)]


class CategoryNames(BaseModel):
    names: list[Name] = Field(
        min_length=1, description="Category names, each an imperative sentence of at most ten words"
    )


class ClioHierarchy(HierarchyBuilder):
    uses_llm = True

    def __init__(
        self,
        llm: str | LLM = "openai/gpt-4o-mini",
        *,
        top_clusters: int | None = None,
        levels: int | None = None,
        seed: int = 0,
        neighbourhood_size: int = 40,
        candidates_factor: float = 1.5,
        assign_batch: int = 25,
        dedup_chunk: int = 150,
        max_children_shown: int = 20,
        temperature: float = 0.2,
        max_output_tokens: int = 1000,
    ):
        super().__init__(top_clusters=top_clusters, levels=levels, seed=seed)
        self.llm = get_llm(llm)
        self.neighbourhood_size = neighbourhood_size
        self.candidates_factor = candidates_factor
        self.assign_batch = assign_batch
        self.dedup_chunk = dedup_chunk
        self.max_children_shown = max_children_shown
        self.temperature = temperature
        self.max_output_tokens = max_output_tokens

    @property
    def name(self) -> str:
        settings = content_key(
            self.neighbourhood_size,
            self.candidates_factor,
            self.assign_batch,
            self.dedup_chunk,
            self.max_children_shown,
            self.temperature,
            self.max_output_tokens,
        )
        return f"clio-hierarchy:v2:{self.llm.identity}:top{self.top_clusters}:levels{self.levels}:seed{self.seed}:{settings[:16]}"

    # -- the tree -------------------------------------------------------------------------------
    async def build(self, base: LevelInput) -> list[Cluster]:
        everything = {c.id: c.model_copy() for c in base.clusters}
        current = [everything[c.id] for c in base.clusters]
        vectors = unit(np.asarray(base.vectors, dtype=np.float64))
        texts = list(base.texts)
        for depth, size in enumerate(self.sizes_for(len(current)), start=1):
            if len(current) <= size:
                break
            labels = await self._labels(depth, current, vectors, size)
            members = [np.flatnonzero(labels == g) for g in range(int(labels.max()) + 1)]
            members = [m for m in members if len(m)]
            names = await self._rename(depth, current, members, texts)
            next_level, next_vectors, next_texts = [], [], []
            for idx, named in zip(members, names):
                if len(idx) == 1:  # no single-child parents: the child itself moves up
                    only = int(idx[0])
                    next_level.append(current[only])
                    next_vectors.append(vectors[only])
                    next_texts.append(texts[only])
                    continue
                assert named is not None
                chat_ids = [i for j in idx for i in current[j].chat_ids]
                parent = Cluster(
                    id=cluster_id(depth, chat_ids),
                    name=named.name,
                    description=named.summary,
                    slug=named.slug,
                    chat_ids=chat_ids,
                    parent_id=None,
                    named_by=named.named_by,
                )
                everything[parent.id] = parent
                for j in idx:
                    current[j].parent_id = parent.id
                weights = np.array([len(current[j].chat_ids) for j in idx], dtype=np.float64)[:, None]
                next_level.append(parent)
                next_vectors.append((vectors[idx] * weights).sum(axis=0) / weights.sum())
                next_texts.append(interleave([texts[j] for j in idx]))
            if len(next_level) >= len(current):  # cannot happen (pigeonhole), but never loop on it
                break
            current, vectors, texts = next_level, unit(np.vstack(next_vectors)), next_texts
        return list(everything.values())

    # -- one level: who goes under which parent --------------------------------------------------
    async def _labels(self, depth: int, current: list[Cluster], vectors: np.ndarray, size: int) -> np.ndarray:
        n = len(current)
        weights = np.array([len(c.chat_ids) for c in current], dtype=np.float64)
        hoods = group_centroids(vectors, weights, math.ceil(n / self.neighbourhood_size), self.seed + depth)
        hood_members = [np.flatnonzero(hoods == h) for h in sorted(set(hoods.tolist()))]
        shown = [describe(c.name, c.description) for c in current]

        proposals = await asyncio.gather(
            *(
                self._propose(depth, h, [shown[i] for i in idx], self._desired(len(idx), n, size))
                for h, idx in enumerate(hood_members)
            )
        )
        candidates = await self._deduplicate(depth, [names for names in proposals if names], size)
        if not candidates:  # every proposal failed: group by vectors; names still come from the model
            return group_centroids(vectors, weights, size, self.seed + depth)

        order = [int(i) for idx in hood_members for i in idx]  # related children share a request
        batches = [order[s : s + self.assign_batch] for s in range(0, n, self.assign_batch)]
        answers = await asyncio.gather(
            *(self._assign(depth, b, batch, current, shown, candidates) for b, batch in enumerate(batches))
        )
        labels = np.full(n, -1, dtype=np.int64)
        for batch, answer in zip(batches, answers):
            if answer is not None:
                labels[batch] = answer
        if (labels < 0).all():
            return group_centroids(vectors, weights, size, self.seed + depth)
        return _compact(_nearest_for_unassigned(labels, vectors, weights))

    def _desired(self, hood_size: int, n: int, size: int) -> int:
        share = math.ceil(hood_size * size / n * self.candidates_factor)
        return max(1, min(share, max(1, hood_size - 1)))

    async def _propose(self, depth: int, hood: int, clusters: list[str], desired: int) -> list[str]:
        try:
            answer = await self._ask(candidates_messages(clusters, desired), CategoryNames, max_items=desired)
        except Exception as exc:
            record_failure(f"level {depth} neighbourhood {hood}", STAGE, describe_error(exc))
            return []
        return _clean_names(answer.names)[:desired]

    async def _deduplicate(self, depth: int, proposals: list[list[str]], size: int) -> list[str]:
        candidates = _unique([name for names in proposals for name in names])
        if len(candidates) <= size:
            return candidates
        chunks = [candidates[s : s + self.dedup_chunk] for s in range(0, len(candidates), self.dedup_chunk)]
        targets = [max(1, round(size * len(chunk) / len(candidates))) for chunk in chunks]

        async def merge(c: int) -> list[str]:
            try:
                answer = await self._ask(
                    deduplicate_messages(chunks[c], targets[c]), CategoryNames, max_items=targets[c]
                )
                return _clean_names(answer.names)[: targets[c]]
            except Exception as exc:
                record_failure(f"level {depth} de-duplication {c}", STAGE, describe_error(exc))
                # Stand-in: a few names from every neighbourhood, round-robin.
                return _unique(interleave(proposals))[: targets[c]] if len(chunks) == 1 else chunks[c][: targets[c]]

        merged = await asyncio.gather(*(merge(c) for c in range(len(chunks))))
        return _unique([name for names in merged for name in names])[:size]

    async def _assign(
        self,
        depth: int,
        batch_no: int,
        batch: list[int],
        current: list[Cluster],
        shown: list[str],
        candidates: list[str],
    ) -> list[int] | None:
        if len(candidates) == 1:
            return [0] * len(batch)  # nothing to choose: no request
        # A shuffled candidate order per request (seeded, so a re-run sends the same prompt and
        # hits the cache) keeps the model's preference for early options from skewing the tree.
        order = list(range(len(candidates)))
        random.Random(f"{self.seed}:{depth}:{batch_no}").shuffle(order)
        # The numbers as an enum, not a range: constrained decoders (llama.cpp) enforce enums.
        number = Literal[tuple(range(1, len(candidates) + 1))]  # type: ignore[valid-type]
        answer_model = create_model(
            "Assignments",
            categories=(  # type: ignore[arg-type]
                Annotated[list[number], Field(min_length=len(batch), max_length=len(batch))],  # type: ignore[valid-type]
                Field(description="One category number per cluster, in the clusters' order"),
            ),
        )
        try:
            answer: Any = await self._ask(
                assign_messages([candidates[o] for o in order], [shown[i] for i in batch]), answer_model
            )
        except Exception as exc:
            for i in batch:
                record_failure(current[i].id, STAGE, f"assignment at level {depth}: {describe_error(exc)}")
            return None
        return [order[choice - 1] for choice in answer.categories]

    # -- names for the parents -------------------------------------------------------------------
    async def _rename(
        self, depth: int, current: list[Cluster], members: list[np.ndarray], texts: list[list[str]]
    ) -> list[GeneratedCluster | None]:
        async def one(idx: np.ndarray) -> GeneratedCluster | Exception | None:
            if len(idx) < 2:
                return None
            children = sorted(idx, key=lambda j: -len(current[j].chat_ids))[: self.max_children_shown]
            try:
                named = await self._ask(
                    rename_messages([describe(current[j].name, current[j].description) for j in children]),
                    ModelClusterName,
                )
            except Exception as exc:
                return exc
            return tidy(named, named_by=self.llm.name)

        answers = await asyncio.gather(*(one(idx) for idx in members))
        failed = [g for g, a in enumerate(answers) if isinstance(a, Exception)]
        if failed:
            groups = [
                ClusterGroup(
                    chat_ids=[i for j in idx for i in current[j].chat_ids],
                    texts=interleave([texts[j] for j in idx]),
                    children=[current[j].name for j in sorted(idx, key=lambda j: -len(current[j].chat_ids))],
                )
                for idx in members
            ]
            offline = offline_names(groups)
            for g in failed:
                error = describe_error(answers[g])  # type: ignore[arg-type]
                record_failure(cluster_id(depth, groups[g].chat_ids), STAGE, f"renaming: {error}")
                answers[g] = offline[g]
        return answers  # type: ignore[return-value]

    async def _ask(self, messages: list[dict[str, str]], model: type[BaseModel], max_items: int | None = None) -> Any:
        # ``max_items`` caps the number of names a constrained decoder may produce.
        schema = cap_lengths(response_schema(model), max_length=300, max_items=max_items or 50)
        return await self.llm.generate(
            messages, model, stage=STAGE, temperature=self.temperature, max_tokens=self.max_output_tokens, schema=schema
        )


def group_centroids(vectors: np.ndarray, weights: np.ndarray, k: int, seed: int) -> np.ndarray:
    """``k`` groups of cluster centroids: size-weighted k-means on unit vectors (neighbourhoods,
    and the stand-in grouping when the model could propose nothing)."""
    from sklearn.cluster import KMeans

    if k >= len(vectors):
        return np.arange(len(vectors))
    return KMeans(n_clusters=k, random_state=seed, n_init=3).fit_predict(vectors, sample_weight=weights)


def _clean_names(names: Sequence[str]) -> list[str]:
    return _unique([" ".join(n.split()).strip().strip('"').rstrip(".") for n in names])


def _unique(names: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for name in names:
        key = " ".join(name.casefold().split())
        if key and key not in seen:
            seen.add(key)
            out.append(name)
    return out


def _nearest_for_unassigned(labels: np.ndarray, vectors: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Children without an answer join the parent whose assigned children are closest to them."""
    missing = np.flatnonzero(labels < 0)
    if not len(missing):
        return labels
    groups = sorted(set(labels[labels >= 0].tolist()))
    centroids = np.vstack([(vectors[labels == g] * weights[labels == g, None]).sum(axis=0) for g in groups])
    centroids = unit(centroids)
    out = labels.copy()
    out[missing] = np.array(groups)[np.argmax(vectors[missing] @ centroids.T, axis=1)]
    return out


def _compact(labels: np.ndarray) -> np.ndarray:
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)
