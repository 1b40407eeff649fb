"""Offline cluster names: phrases from the members' own words, never keyword lists or cut requests."""

from __future__ import annotations

import numpy as np
import pytest
from kura_testdata import DEMO_DATA, clinc_slice

import kura
from kura.embedders import HashingEmbedder
from kura.errors import ConfigError
from kura.stages.naming import (
    FUNCTION_WORDS,
    ClusterGroup,
    DistinctiveTermsNamer,
    covering_span,
    nouns_of,
    phrases_of,
)
from kura.types import Conversation, Message
from kura.types.tree import ClusterTree


def test_phrases_are_spans_between_content_words_keyed_by_them():
    found = phrases_of("Can you help me pay my water bill? Thanks")
    assert found["pay water bill"] == "pay water bill"  # "my" is not shown
    assert found["water bill"] == "water bill" and found["thanks"] == "Thanks"
    assert "bill thanks" not in found  # phrases never cross punctuation
    assert all(w.lower() not in FUNCTION_WORDS for key in found for w in (key.split()[0], key.split()[-1]))
    assert phrases_of("I want to book a flight to Rome")["book flight"] == "book a flight"
    assert phrases_of("How does Open Assistant work")["open assistant"] == "Open Assistant"  # case kept
    assert "best" not in phrases_of("what is the best pizza")  # too vague alone ...
    assert "best pizza" in phrases_of("what is the best pizza")  # ... but fine in a phrase
    assert phrases_of("[code] [url]") == {}


def test_covering_span_quotes_the_shortest_stretch_with_both_phrases():
    texts = ["please set a timer for my pasta now", "timer. pasta"]
    assert covering_span(texts, {"timer", "pasta"}, 7) == "timer for pasta"
    assert covering_span(texts, {"timer", "rome"}, 7) is None
    assert covering_span(["timer " + "x " * 10 + "pasta"], {"timer", "pasta"}, 7) is None  # too long


def test_closeness_to_the_centroid_picks_between_equally_distinctive_phrases():
    texts = ["pasta recipe. weather forecast", "weather forecast. pasta recipe", "pasta recipe. weather forecast"]
    other = ClusterGroup(chat_ids=["x", "y", "z"], texts=["car insurance", "car insurance", "car insurance quote"])
    embedder = HashingEmbedder()
    for wanted in ("pasta recipe", "weather forecast"):
        centroid = embedder.encode([wanted])[0]
        group = ClusterGroup(chat_ids=["1", "2", "3"], texts=texts, centroid=centroid)
        other.centroid = embedder.encode(["car insurance"])[0]
        named = DistinctiveTermsNamer(embedder=embedder).name_groups_sync([group, other])
        assert named[0].name.lower().startswith(wanted), named[0].name
        assert named[1].name == "Car insurance"


def test_a_parent_is_named_for_what_its_children_share():
    children = [
        ["credit card limit", "raise my credit card limit", "credit card limit increase"],
        ["lost my credit card", "credit card stolen", "report lost credit card"],
        ["credit card rewards", "rewards on my credit card", "redeem credit card rewards"],
    ]
    texts = [t for row in zip(*children) for t in row]
    owners = [k for row in zip(*children) for k, _ in enumerate(row)]
    parent = ClusterGroup(
        chat_ids=[str(i) for i in range(9)],
        texts=texts,
        children=["Credit card limit", "Lost credit card", "Credit card rewards"],
        child_of=owners,
    )
    other = ClusterGroup(
        chat_ids=["a", "b", "c"],
        texts=["flight status", "flight delayed", "book flight"],
        children=["Flight status", "Book flight"],
        child_of=[0, 0, 1],
    )
    named = DistinctiveTermsNamer().name_groups_sync([parent, other])
    assert named[0].name == "Credit card"  # shared by all three children, unlike "rewards" or "lost"
    assert named[1].name == "Flight"
    assert " · " not in named[0].name and "rewards" not in named[0].name.lower()


def test_nouns_are_told_from_how_the_texts_use_words():
    texts = [
        "pay my water bill",
        "when is the bill due",
        "set a timer for ten minutes",
        "cancel the timer",
        "call my mom",
        "can you call me later",
        "is it healthy to skip breakfast?",
        "healthy snacks for kids",
        "add milk to my shopping list",
        "what is on the shopping list",
    ]
    nouns = nouns_of(texts)
    assert {"bill", "timer", "list"} <= nouns
    assert not {"call", "healthy", "shopping", "pay", "set"} & nouns  # verbs, adjectives, modifiers


def _parent(children: dict[str, list[str]]) -> ClusterGroup:
    texts = [t for row in zip(*children.values()) for t in row]
    owners = [k for row in zip(*children.values()) for k, _ in enumerate(row)]
    return ClusterGroup(
        chat_ids=[str(i) for i in range(len(texts))], texts=texts, children=list(children), child_of=owners
    )


def test_a_parent_whose_children_share_nothing_lists_what_the_largest_are_about():
    mixed = _parent(
        {
            "Set a timer": ["set a timer for the pasta", "start a timer", "cancel the timer now"],
            "Water bill": ["pay my water bill", "when is the water bill due", "how much is the water bill"],
            "Flight status": ["is my flight on time", "status of the flight to rome", "check the flight status"],
        }
    )
    other = _parent(
        {"Car insurance": ["car insurance quote", "cheap car insurance"], "Oil": ["oil change", "oil type"]}
    )
    named = DistinctiveTermsNamer().name_groups_sync([mixed, other])
    assert named[0].name == "Timer, water bill and flight status"  # largest children first, each a noun phrase
    assert named[0].name not in mixed.children


def test_a_parent_is_never_named_exactly_as_one_of_its_children():
    parent = _parent(
        {
            "Write": ["write a poem about rain", "write a story", "write me a haiku"],
            "AI": ["what is an AI", "is the AI conscious", "explain how an AI learns to write"],
        }
    )
    other = _parent({"Weather": ["weather today", "weather in rome"], "Rain": ["will it rain", "rain tomorrow"]})
    named = DistinctiveTermsNamer().name_groups_sync([parent, other])
    assert named[0].name not in parent.children and named[0].name == "Write and AI", named[0].name


def test_the_name_changes_the_fingerprint_so_old_runs_recompute():
    assert DistinctiveTermsNamer().name.startswith("phrases:v2:")
    assert DistinctiveTermsNamer(embedder="hashing").fingerprint() != DistinctiveTermsNamer().fingerprint()


@pytest.mark.parametrize("source", ["demo", "clinc"])
def test_names_of_a_real_run_are_short_phrases_never_cut_or_glued(tmp_path, source):
    if source == "demo":
        inputs: list = [str(DEMO_DATA)]
    else:
        rows = clinc_slice(4)
        inputs = [Conversation(chat_id=r["id"], messages=[Message(**m) for m in r["messages"]]) for r in rows]
    result = kura.run(inputs, tmp_path / "run", embedder="hashing", projector="pca", top_clusters=5)
    tree = ClusterTree(result.clusters)
    names = [c.name for c in result.clusters]
    parents = [c for c in result.clusters if tree.children(c.id)]
    for cluster in result.clusters:
        name = cluster.name
        assert "…" not in name and " · " not in name and 0 < len(name.split()) <= 12 and name[0].isupper()
        listed = name.removeprefix("Assorted requests, such as").split(", ")
        # a keyword list never; a list of at most three themes only for a parent ("Timer, bill and flight")
        assert len(listed) == 1 or (cluster in parents and len(listed) <= 3 and " and " in listed[-1]), name
    assert parents and all(c.description.startswith("Requests about") for c in parents)
    shared = [n for n in names if not n.startswith("Assorted")]
    assert len(shared) >= 0.7 * len(names)  # most clusters have a phrase of their own
    assert np.mean([len(n.split()) for n in shared]) <= 5


def test_an_embedder_other_than_the_runs_is_one_clear_error():
    group = ClusterGroup(chat_ids=["1", "2"], texts=["pasta recipe", "pasta recipe"], centroid=np.ones(3) / np.sqrt(3))
    with pytest.raises(ConfigError, match="give it the embedder the run used"):
        DistinctiveTermsNamer(embedder=HashingEmbedder(dim=8)).name_groups_sync([group, group])
