"""The privacy auditor through the fake model: what it sends, how ratings become withheld
clusters, and that a failed audit withholds instead of passing a cluster unseen."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from kura.llm import FakeLLM, ProviderError
from kura.llm.prompts import audit_messages
from kura.privacy.audit import AuditItem, PrivacyAuditor
from kura.privacy.policy import PrivacyPolicy
from kura.privacy.report import audit_tree
from kura.types import Cluster, ConversationSummary


def item(cid: str, name: str = "Debug Python import errors") -> AuditItem:
    return AuditItem(cid, name, "Users ask why imports fail.", ["user asks why numpy fails to import"])


def rating(value: int) -> dict:
    return {"reason": "nothing specific" if value > 2 else "a named person", "rating": value}


def test_ratings_below_the_threshold_are_withheld():
    llm = FakeLLM(script=[rating(1), rating(2), rating(3), rating(5)], max_concurrency=1)
    results = asyncio.run(PrivacyAuditor(llm, threshold=3).audit([item(str(i)) for i in range(4)]))
    assert [(r.cluster_id, r.rating, r.withheld) for r in results] == [
        ("0", 1, True),
        ("1", 2, True),
        ("2", 3, False),
        ("3", 5, False),
    ]
    assert all(r.error is None for r in results)


def test_the_prompt_shows_name_description_summaries_and_the_scale():
    messages = audit_messages("Plan a trip to Lisbon", "Itineraries.", ["ask about trams", "hotels"])
    body = messages[-1]["content"]
    for text in (
        "Plan a trip to Lisbon",
        "Itineraries.",
        "- ask about trams",
        "- hotels",
        "1 - identifies",
        "5 - nothing",
    ):
        assert text in body
    assert "[NAME]" in body  # placeholders are explained, so the model does not count them


def test_an_answer_outside_the_scale_is_asked_again_then_fails_and_withholds():
    llm = FakeLLM(script=[{"reason": "x", "rating": 9}] * 3, validation_retries=2)
    (result,) = asyncio.run(PrivacyAuditor(llm).audit([item("c")]))
    assert result.rating is None and result.withheld and "rating" in (result.error or "")
    assert len(llm.calls) == 3  # the first answer and two corrections


def test_a_provider_failure_is_recorded_per_cluster_and_the_others_are_still_rated():
    down = ProviderError("fake: 503", retryable=False)
    llm = FakeLLM(script=[down, rating(4)], max_concurrency=1)
    first, second = asyncio.run(PrivacyAuditor(llm).audit([item("a"), item("b")]))
    assert (first.rating, first.withheld, "503" in (first.error or "")) == (None, True, True)
    assert (second.rating, second.withheld, second.error) == (4, False, None)


def test_the_threshold_is_checked():
    with pytest.raises(ValueError, match="1 to 5"):
        PrivacyAuditor(FakeLLM(), threshold=0)


def test_settings_move_the_fingerprint_and_the_model_is_part_of_it():
    base = PrivacyAuditor(FakeLLM("echo")).fingerprint()
    assert PrivacyAuditor(FakeLLM("echo")).fingerprint() == base
    assert PrivacyAuditor(FakeLLM("echo"), threshold=4).fingerprint() != base
    assert PrivacyAuditor(FakeLLM("other")).fingerprint() != base
    assert PrivacyPolicy(auditor=PrivacyAuditor(FakeLLM("echo"))).fingerprint() != PrivacyPolicy().fingerprint()


def test_audit_tree_withholds_a_subtree_and_its_conversations_and_reports_counts_only():
    summaries = [ConversationSummary(chat_id=f"c{i}", summary=f"request {i}", metadata={}) for i in range(6)]
    vectors = np.eye(6, dtype=np.float32)
    root = Cluster(
        id="root", name="All", description="", slug="s", chat_ids=[f"c{i}" for i in range(6)], parent_id=None
    )
    private = Cluster(
        id="p", name="Letters to Jane Doe", description="", slug="s", chat_ids=["c0", "c1"], parent_id="root"
    )
    public = Cluster(
        id="q", name="Python", description="", slug="s", chat_ids=["c2", "c3", "c4", "c5"], parent_id="root"
    )

    def responder(messages, schema):
        return rating(1) if "Jane Doe" in messages[-1]["content"] else rating(5)

    llm = FakeLLM(responder=responder)
    policy = PrivacyPolicy(auditor=PrivacyAuditor(llm, samples=2))
    kept, details = asyncio.run(audit_tree(policy, [root, private, public], summaries, vectors))
    assert [c.id for c in kept] == ["root", "q"]
    assert kept[0].chat_ids == ["c2", "c3", "c4", "c5"]
    assert details["audited"] == 3 and details["failed"] == 0
    assert details["withheld"] == [{"cluster_id": "p", "rating": 1, "failed": False, "conversations": 2}]
    assert "Jane" not in json.dumps(details)  # the report never repeats a withheld name or reason
    # each cluster showed at most `samples` summaries
    assert all(m[-1]["content"].count("\n- request") <= 2 for m in llm.calls)


def test_strict_audits_with_the_run_model_but_not_unasked_with_a_local_one():
    from kura.config import RunConfig
    from kura.llm.local import LocalLLM
    from kura.privacy.policy import privacy_policy
    from kura.privacy.report import WEAK_AUDITOR

    hosted = privacy_policy(RunConfig(privacy="strict"), FakeLLM())
    assert hosted.auditor is not None and hosted.auditor.llm.name == "fake/echo"
    local = privacy_policy(RunConfig(privacy="strict"), LocalLLM())
    assert local.auditor is None and local.no_auditor_reason == WEAK_AUDITOR
    asked = privacy_policy(RunConfig(privacy="strict", auditor=LocalLLM()), LocalLLM())
    assert asked.auditor is not None and asked.auditor.llm.provider == "local"
    assert privacy_policy(RunConfig(privacy="strict", auditor="none"), FakeLLM()).auditor is None
