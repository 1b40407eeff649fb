"""Names from a model for the levels people read first (kura/llm/local_names.py), the fake at the seam."""

from __future__ import annotations

import asyncio
import json

from llm_data import topic_conversations

import kura
from kura.llm.fake import FakeLLM
from kura.llm.local_names import BudgetedNamer, names_messages
from kura.stages.naming import ClusterGroup


def groups(count, size=3, children=False):
    return [
        ClusterGroup(
            chat_ids=[f"g{g}-{i}" for i in range(size + g)],
            texts=[f"request {i} about topic{g}" for i in range(size + g)],
            children=[f"child of {g}"] if children else [],
        )
        for g in range(count)
    ]


def test_small_levels_get_model_names_largest_first_and_large_levels_stay_offline():
    llm = FakeLLM(responder=lambda messages, schema: {"name": "Name from the model"})
    namer = BudgetedNamer(llm, max_groups=4, budget_seconds=600)
    small = asyncio.run(namer.name_groups(groups(3, children=True)))
    assert [n.named_by for n in small] == ["fake/echo"] * 3 and {n.name for n in small} == {"Name from the model"}
    largest = max(range(3), key=lambda g: len(groups(3)[g].chat_ids))
    assert "topic2" in llm.calls[0][1]["content"] and largest == 2  # the largest group is asked first
    big = asyncio.run(namer.name_groups(groups(5)))
    assert [n.named_by for n in big] == ["terms"] * 5 and len(llm.calls) == 3  # 5 > max_groups: no request


def test_no_budget_means_no_request_and_a_failed_request_keeps_the_offline_name():
    llm = FakeLLM(responder=lambda messages, schema: {"name": "Unused"})
    assert [n.named_by for n in asyncio.run(BudgetedNamer(llm, budget_seconds=0).name_groups(groups(2)))] == [
        "terms",
        "terms",
    ]
    assert llm.calls == []
    failing = FakeLLM("invalid")
    named = asyncio.run(BudgetedNamer(failing, budget_seconds=600).name_groups(groups(2)))
    assert [n.named_by for n in named] == ["terms", "terms"] and all(n.name for n in named)


def test_several_groups_per_call_share_one_request_and_keep_their_order():
    def answer(messages, schema):
        body = messages[-1]["content"]
        if "<group " not in body:
            return {"name": "Name 1"}  # a request with one group asks for one name
        return {"names": [f"Name {g}" for g in range(1, body.count("<group ") + 1)]}

    llm = FakeLLM(responder=answer)
    named = asyncio.run(BudgetedNamer(llm, groups_per_call=2, budget_seconds=600).name_groups(groups(3)))
    assert len(llm.calls) == 2  # 3 groups, 2 per request
    # Largest first: group 2, then 1 (one request), then 0.
    assert [n.name for n in named] == ["Name 1", "Name 2", "Name 1"]


def test_the_prompt_starts_with_what_never_changes():
    first = names_messages([["a"], ["b"]], 50)
    second = names_messages([["c"]], 50)
    assert first[0] == second[0]  # the system prompt: llama.cpp reuses its evaluated prefix
    assert "<group 2>" in first[1]["content"] and "<requests>" in second[1]["content"]


def test_a_run_records_which_namer_named_each_cluster(tmp_path):
    data = topic_conversations()
    llm = FakeLLM(responder=lambda messages, schema: {"name": "Help with a topic"})
    namer = BudgetedNamer(llm, max_groups=3, budget_seconds=600)
    kura.run(data, tmp_path / "run", namer=namer, embedder="hashing", projector="pca", clusters_per_group=2)
    base = [json.loads(line) for line in (tmp_path / "run" / "clusters.jsonl").read_text().splitlines()]
    tree = [json.loads(line) for line in (tmp_path / "run" / "meta_clusters.jsonl").read_text().splitlines()]
    assert {c["named_by"] for c in base} == {"terms"}  # more base clusters than max_groups
    top = [c for c in tree if c["parent_id"] is None and c["id"] not in {b["id"] for b in base}]
    assert top and {c["named_by"] for c in top} == {"fake/echo"} and {c["name"] for c in top} == {"Help with a topic"}
