"""Fingerprints come from constructors, never from hand-written names.

Generated from the constructors' signatures: for every component and every one of its
parameters, a changed value changes the component's fingerprint (or, for a parameter declared
``not_fingerprinted``, leaves it alone); and through the runner, a changed component changes its
own stage's fingerprint and no earlier stage's.
"""

from __future__ import annotations

import inspect

import pytest

from kura.embedders import HashingEmbedder, MiniLMEmbedder
from kura.llm import ClioHierarchy, LLMClusterNamer, LLMSummariser
from kura.llm.chooser import LLMClusterChooser
from kura.llm.embeddings import OpenAIEmbedder
from kura.llm.local_names import BudgetedNamer
from kura.privacy.audit import PrivacyAuditor
from kura.privacy.policy import PrivacyPolicy
from kura.progress import Reporter
from kura.runner.graph import STAGES
from kura.runner.params import Component, fingerprint, parameter_names
from kura.runner.runner import Runner, StageResult
from kura.stages.cluster import HDBSCANClusterer, KMeansClusterer
from kura.stages.hierarchy import EmbeddingHierarchy
from kura.stages.naming import DistinctiveTermsNamer
from kura.stages.project import PCAProjector, UMAPProjector
from kura.stages.summarise import ExtractiveSummariser
from kura.store.meta import FileDigest, StageRecord
from kura.types import GeneratedSummary

COMPONENTS: list[type[Component]] = [
    ExtractiveSummariser,
    LLMSummariser,
    HashingEmbedder,
    MiniLMEmbedder,
    OpenAIEmbedder,
    KMeansClusterer,
    HDBSCANClusterer,
    DistinctiveTermsNamer,
    LLMClusterNamer,
    LLMClusterChooser,
    BudgetedNamer,
    EmbeddingHierarchy,
    ClioHierarchy,
    UMAPProjector,
    PCAProjector,
    PrivacyPolicy,
    PrivacyAuditor,
]
STAGE_OF = {"summariser": "summarise", "embedder": "embed", "clusterer": "clusters", "namer": "clusters"}
STAGE_OF |= {"hierarchy": "hierarchy", "projector": "map", "privacy": "clusters"}


class LongerSummary(GeneratedSummary):
    mood: str | None = None


def changed(cls: type, name: str) -> object:
    """A value for parameter ``name`` of ``cls`` that differs from its default."""
    parameter = inspect.signature(cls.__init__).parameters[name]
    default, annotation = parameter.default, str(parameter.annotation)
    if isinstance(default, bool):
        return not default
    if isinstance(default, int):
        return default + 1
    if isinstance(default, float):
        return default * 2 + 0.5
    if isinstance(default, str):
        return "openai/gpt-4.1" if name == "llm" else default + "-other"
    if isinstance(default, type):
        return LongerSummary
    if name == "auditor":
        return PrivacyAuditor("fake/echo")
    if "ClusterNamer" in annotation:
        return DistinctiveTermsNamer(terms_in_name=5)
    if "RetryPolicy" in annotation:
        from kura.llm import RetryPolicy

        return RetryPolicy(max_attempts=2)
    if "int" in annotation:
        return 3
    if "str" in annotation:
        return "http://127.0.0.1:9/v1" if name == "base_url" else "something else"
    if "bool" in annotation:
        return True
    raise AssertionError(f"no changed value for {cls.__name__}({name}: {annotation} = {default!r})")


CASES = [(cls, name) for cls in COMPONENTS for name in parameter_names(cls)]


@pytest.mark.parametrize(("cls", "name"), CASES, ids=[f"{c.__name__}.{n}" for c, n in CASES])
def test_every_setting_moves_the_fingerprint_unless_it_cannot_change_the_output(cls, name):
    default, other = cls(), cls(**{name: changed(cls, name)})
    assert cls().fingerprint() == default.fingerprint()  # stable
    if name in cls.not_fingerprinted:
        assert other.fingerprint() == default.fingerprint()
    else:
        assert other.fingerprint() != default.fingerprint(), f"{cls.__name__}({name}=...) left it unchanged"


def test_a_changed_component_moves_its_stage_and_no_earlier_one():
    base = dict(
        summariser=ExtractiveSummariser(),
        embedder=HashingEmbedder(),
        clusterer=KMeansClusterer(),
        namer=DistinctiveTermsNamer(),
        hierarchy=EmbeddingHierarchy(),
        projector=UMAPProjector(),
        privacy=PrivacyPolicy(),
    )
    variants = dict(
        summariser=ExtractiveSummariser(max_words=12),
        embedder=HashingEmbedder(dim=64),
        clusterer=KMeansClusterer(clusters_per_group=5),
        namer=DistinctiveTermsNamer(terms_in_name=2),
        hierarchy=EmbeddingHierarchy(top_clusters=3),
        projector=PCAProjector(),
        privacy=PrivacyPolicy(min_conversations=5),
    )
    order = [s.name for s in STAGES]

    def fingerprints(components: dict) -> dict[str, str]:
        runner = Runner(store=None, components=components, reporter=Reporter(enabled=False))  # type: ignore[arg-type]
        out = {}
        for stage in STAGES:
            out[stage.name] = runner.fingerprint(stage)
            # Later stages see the earlier ones through their files' digests: let a changed
            # stage's output change too, as it would.
            record = StageRecord(fingerprint=out[stage.name], files={"f": FileDigest(size=1, sha256=out[stage.name])})
            runner.results[stage.name] = StageResult(None, out[stage.name], reused=False, record=record)
        return out

    before = fingerprints(base)
    for name, component in variants.items():
        after = fingerprints({**base, name: component})
        stage = STAGE_OF[name]
        moved = [s for s in order if after[s] != before[s]]
        assert moved[0] == stage, (name, moved)  # its own stage first: nothing earlier moved
        downstream = {s.name for s in STAGES if stage in _ancestors(s.name)}
        assert set(moved) == {stage} | downstream, (name, moved)


def _ancestors(name: str) -> set[str]:
    by_name = {s.name: s for s in STAGES}
    out: set[str] = set()
    for parent in by_name[name].inputs:
        out |= {parent} | _ancestors(parent)
    return out


def test_a_users_component_without_stored_arguments_falls_back_to_its_name():
    class Custom(ExtractiveSummariser):
        def __init__(self, words: int):
            super().__init__(max_words=words)  # keeps ``words`` under another name

        @property
        def name(self) -> str:
            return f"custom:{self.max_words}"

    assert fingerprint(Custom(5)) != fingerprint(Custom(6))
