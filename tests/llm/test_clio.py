"""Clio's hierarchy through the fake LLM: the algorithm's guarantees, with obedient and hostile models."""

from __future__ import annotations

import asyncio
import re

import numpy as np
import pytest

from kura.llm import ClioHierarchy, FakeLLM, ProviderError
from kura.llm.fake import prompt_phrases
from kura.runner.failures import collecting
from kura.stages.hierarchy import LevelInput
from kura.types import Cluster

TOPICS = ["python", "cooking", "travel", "fitness"]


def base_level(per_topic: int = 12, seed: int = 0) -> LevelInput:
    rng = np.random.default_rng(seed)
    axes = np.eye(16)[: len(TOPICS)]
    clusters, vectors, texts = [], [], []
    for t, topic in enumerate(TOPICS):
        for i in range(per_topic):
            ids = [f"{topic}-{i}-{j}" for j in range(1 + i % 3)]
            clusters.append(
                Cluster(
                    id=f"0-{topic}-{i}",
                    name=f"Ask about {topic} case {i}",
                    description=f"Users asked about {topic}.",
                    slug=f"{topic}_{i}",
                    chat_ids=ids,
                    parent_id=None,
                )
            )
            vectors.append(axes[t] + 0.05 * rng.standard_normal(16))
            texts.append([f"{topic} question {i}"])
    return LevelInput(clusters=clusters, vectors=np.array(vectors), texts=texts)


def check_tree(tree: list[Cluster], base: LevelInput) -> list[Cluster]:
    by_id = {c.id: c for c in tree}
    children: dict[str, list[Cluster]] = {}
    for c in tree:
        if c.parent_id:
            assert c.parent_id in by_id
            children.setdefault(c.parent_id, []).append(c)
    for parent_id, kids in children.items():
        assert len(kids) >= 2, f"single-child parent {by_id[parent_id].name}"
        assert sorted(by_id[parent_id].chat_ids) == sorted(i for k in kids for i in k.chat_ids)
    roots = [c for c in tree if c.parent_id is None]
    everyone = sorted(i for c in base.clusters for i in c.chat_ids)
    assert sorted(i for r in roots for i in r.chat_ids) == everyone  # each conversation under exactly one root
    return roots


def topic_of(text: str) -> str:
    return next((t for t in TOPICS if t in text.lower()), "other")


def obedient(messages, schema):
    """A model that understands the task: one category per topic, each cluster to its topic."""
    props = schema.get("properties", {})
    lines = prompt_phrases(messages)
    if "categories" in props:
        body = messages[-1]["content"]
        categories = re.search(r"<categories>\n(.*?)\n</categories>", body, re.S).group(1).splitlines()
        wanted = [topic_of(line) for line in lines]
        return {"categories": [1 + next(i for i, c in enumerate(categories) if topic_of(c) == w) for w in wanted]}
    if "names" in props:
        return {"names": [f"Get help with {t}" for t in TOPICS if any(t in line.lower() for line in lines)]}
    topic = topic_of(" ".join(lines))
    return {
        "name": f"Get help with {topic}",
        "summary": f"Users asked about {topic}.",
        "slug": f"{topic}_help_requests",
    }


def build(llm, base, **options):
    """The tree, and the failures the hierarchy recorded while building it."""
    hierarchy = ClioHierarchy(llm, **options)
    with collecting() as failures:
        tree = asyncio.run(hierarchy.build(base))
    return failures, tree


def test_an_obedient_model_groups_clusters_by_topic():
    base = base_level()
    failures, tree = build(FakeLLM(responder=obedient), base, top_clusters=4, neighbourhood_size=10, assign_batch=7)
    roots = check_tree(tree, base)
    assert failures == []
    assert sorted(r.name for r in roots) == sorted(f"Get help with {t}" for t in TOPICS)
    for root in roots:  # every conversation under its own topic's root
        assert {topic_of(i) for i in root.chat_ids} == {topic_of(root.name)}


@pytest.mark.parametrize("levels, top", [(None, 2), (1, 3), (2, 4), (3, 2)])
def test_levels_and_top_count_are_configurable(levels, top):
    base = base_level()
    _, tree = build(FakeLLM(), base, top_clusters=top, levels=levels, neighbourhood_size=12)
    roots = check_tree(tree, base)
    assert len(roots) <= max(top, 4) and len(roots) < len(base.clusters)
    by_id = {c.id: c for c in tree}
    deepest = 0
    for c in base.clusters:
        d, node = 0, by_id[c.id]
        while node.parent_id:
            node, d = by_id[node.parent_id], d + 1
        deepest = max(deepest, d)
    assert 1 <= deepest <= (levels if levels is not None else 3)


def test_everything_into_one_category_still_terminates_without_single_children():
    def lump(messages, schema):
        props = schema.get("properties", {})
        if "categories" in props:
            return {"categories": [1] * schema["properties"]["categories"]["minItems"]}
        if "names" in props:
            return {"names": ["Everything"]}
        return {"name": "Everything", "summary": "All of it.", "slug": "all_of_it"}

    base = base_level()
    _, tree = build(FakeLLM(responder=lump), base, top_clusters=3)
    roots = check_tree(tree, base)
    assert len(roots) == 1 and roots[0].name == "Everything"


def test_a_model_that_always_fails_still_yields_a_valid_tree_and_records_failures():
    def broken(messages, schema):
        raise ProviderError("HTTP 500: broken", status=500, retryable=False)

    base = base_level()
    failures, tree = build(FakeLLM(responder=broken), base, top_clusters=4, neighbourhood_size=10)
    roots = check_tree(tree, base)
    assert 2 <= len(roots) <= 4
    assert failures and all(f.stage == "hierarchy" and "broken" in f.error for f in failures)
    assert all(r.name for r in roots)  # offline distinctive-terms names stand in


def test_failed_assignments_join_the_nearest_parent():
    calls = {"assign": 0}

    def half_broken(messages, schema):
        if "categories" in schema.get("properties", {}):
            calls["assign"] += 1
            if calls["assign"] % 2 == 0:
                raise ProviderError("timeout", retryable=False, kind="timeout")
        return obedient(messages, schema)

    base = base_level()
    failures, tree = build(
        FakeLLM(responder=half_broken), base, top_clusters=4, neighbourhood_size=10, assign_batch=6, levels=1
    )
    roots = check_tree(tree, base)
    failed = {f.id for f in failures}
    assert failed and failed <= {c.id for c in base.clusters}
    for root in roots:  # the nearest parent by vectors is the right topic too
        assert len({topic_of(i) for i in root.chat_ids}) == 1


def test_candidates_are_shown_in_a_shuffled_order_per_request():
    seen_orders = []

    def recording(messages, schema):
        if "categories" in schema.get("properties", {}):
            body = messages[-1]["content"]
            seen_orders.append(
                tuple(re.search(r"<categories>\n(.*?)\n</categories>", body, re.S).group(1).splitlines())
            )
        return obedient(messages, schema)

    build(FakeLLM(responder=recording), base_level(), top_clusters=4, neighbourhood_size=48, assign_batch=4, levels=1)
    names = [tuple(sorted(line.split(". ", 1)[1] for line in order)) for order in seen_orders]
    assert len(set(names)) == 1  # the same candidates every time...
    assert len(set(seen_orders)) > 1  # ...in different orders


def test_parents_are_renamed_from_the_children_they_received():
    renamed_from = []

    def recording(messages, schema):
        if "slug" in schema.get("properties", {}):
            renamed_from.append(prompt_phrases(messages))
        return obedient(messages, schema)

    build(FakeLLM(responder=recording), base_level(per_topic=5), top_clusters=4, neighbourhood_size=40, levels=1)
    assert len(renamed_from) == 4
    for children in renamed_from:
        assert len({topic_of(c) for c in children}) == 1


def test_the_same_input_sends_the_same_prompts(tmp_path):
    from kura.store.cache import ItemCache

    base = base_level()
    llm = FakeLLM()
    with ItemCache(tmp_path / "c.sqlite") as cache:
        llm.use_cache(cache)
        _, first = build(llm, base, top_clusters=3)
        calls = len(llm.calls)
        _, again = build(llm, base, top_clusters=3)
    assert len(llm.calls) == calls  # all from the cache: shuffles and k-means are seeded
    assert [c.model_dump() for c in first] == [c.model_dump() for c in again]
