"""The one runner: for every stage alike, fingerprint, reuse or compute, write, record.

A stage's fingerprint is derived, never written: the stage's name, the fingerprints of its
components (``kura.runner.params``) and the digests of the files its inputs wrote. So changing
one setting recomputes that stage and exactly the stages downstream of it, and a stage whose
output file was edited, truncated or replaced is recomputed instead of trusted
(``RunStore.reusable``). Failures recorded while a stage runs (``kura.runner.failures``) go to
``errors.jsonl``; a stage with failures is not marked complete, so the next run tries again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kura.progress import Reporter, StageBar
from kura.runner.failures import collecting
from kura.runner.params import Component, fingerprint, label
from kura.store.artifacts import Artifact
from kura.store.cache import content_key
from kura.store.meta import Failure, StageRecord
from kura.store.run import RunStore


@dataclass
class StageOutput:
    """What a stage's ``compute`` returns: its value, and how many items it computed or reused."""

    value: Any
    computed: int = 0
    reused: int = 0
    #: What the stage did worth keeping beside its files (kept in run.json, and when it is reused).
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline, declared once (see kura/runner/graph.py for the list)."""

    name: str
    #: What the progress bar says while it runs.
    label: str
    #: Earlier stages whose values this one reads (their output digests enter its fingerprint).
    inputs: tuple[str, ...]
    #: Names of the components (in the run's components mapping) whose settings are this stage's.
    components: tuple[str, ...]
    #: The files it writes, all recorded with their digests.
    outputs: tuple[Artifact, ...]
    compute: Callable[[Any, dict[str, Any], StageBar], Awaitable[StageOutput]]
    write: Callable[[RunStore, Any], None]
    read: Callable[[RunStore], Any]
    #: Works item by item through the item cache, so a killed run resumes item by item.
    per_item: bool = False
    #: Computed on every run (a stage that reads the raw inputs has no digest to compare).
    always: bool = False
    #: Extra parts of the fingerprint worked out from the run (settings that are not components).
    settings: Callable[[Any], Any] | None = None
    #: Items in a value, for the computed/reused table.
    count: Callable[[Any], int] = len


@dataclass
class StageResult:
    value: Any
    digest: str
    reused: bool
    record: StageRecord


@dataclass
class Runner:
    """Runs declared stages into a run directory, in order."""

    store: RunStore
    components: Mapping[str, object]
    reporter: Reporter
    #: Whatever the stages' compute functions need beyond their inputs (the run's context).
    context: Any = None
    results: dict[str, StageResult] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)

    def fingerprint(self, stage: Stage) -> str:
        parts = [stage.name]
        parts.extend(fingerprint(self.components[name]) for name in stage.components)
        parts.extend(self.results[i].digest for i in stage.inputs)
        if stage.settings is not None:
            parts.append(stage.settings(self.context))
        return content_key(*parts)

    async def run(self, stages: Sequence[Stage]) -> dict[str, StageResult]:
        for stage in stages:
            self.results[stage.name] = await self.run_stage(stage)
        return self.results

    async def run_stage(self, stage: Stage) -> StageResult:
        fp = self.fingerprint(stage)
        record = None if stage.always else self.store.reusable(stage.name, fp)
        if record is not None and any(a.file not in record.files for a in stage.outputs):
            record = None  # recorded before the stage wrote this file (an older Kura): write it now
        if record is not None:
            value = stage.read(self.store)
            record = record.model_copy(update={"computed": 0, "reused": stage.count(value), "seconds": 0.0})
            return StageResult(value, _digest(record), reused=True, record=record)
        inputs = {name: self.results[name].value for name in stage.inputs}
        start = time.perf_counter()
        with collecting() as failures, self.reporter.stage(stage.label) as bar:
            output = await stage.compute(self.context, inputs, bar)
            stage.write(self.store, output.value)
        self.failures.extend(failures)
        described = [_describe(self.components[c]) for c in stage.components]
        record = self.store.record_stage(
            stage.name,
            fp,
            stage.outputs,
            complete=not failures,
            component="; ".join(described),
            computed=output.computed,
            reused=output.reused,
            seconds=round(time.perf_counter() - start, 3),
            details=output.details,
        )
        return StageResult(output.value, _digest(record), reused=False, record=record)


def _digest(record: StageRecord) -> str:
    return content_key(sorted((name, d.sha256) for name, d in record.files.items()))


def _describe(component: object) -> str:
    return component.describe() if isinstance(component, Component) else label(component)
