"""Runs started from the browser: settings, a queue, and a child process per run.

The pipeline runs in a separate process (spawned, so nothing of the server's threads is copied)
that sends its progress back over a queue. The server stays responsive while a run embeds and
clusters on every core, and a failed or killed run cannot take the server down with it. One run
at a time: the others wait in the queue.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from kura.errors import ConfigError
from kura.progress import Reporter, StageBar

#: The stages ``kura.run`` reports, in order (labels from kura/pipeline.py).
STAGES = ["Summarising", "Embedding", "Clustering", "Building hierarchy", "Laying out the map"]


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the page's "model" menu: a label, and the ``kura.run`` settings it means.

    ``settings`` is called in the child process, so it may build objects that cannot be pickled
    (an LLM client, a local model). Adding a language-model summariser is one more entry here.
    """

    label: str
    description: str
    settings: Callable[[], dict[str, Any]]


def _llm(spec: str) -> dict[str, Any]:
    return {"llm": spec}


def _language_models() -> dict[str, ModelChoice]:
    """The language models usable on this machine now: the local one if installed, and each
    API whose key is in the environment (a choice that would only fail is not offered)."""
    import importlib.util

    found: dict[str, ModelChoice] = {}
    if importlib.util.find_spec("llama_cpp") is not None:
        found["local"] = ModelChoice(
            label="Local model (Qwen2.5-Coder 0.5B, offline)",
            description="Clio facets, names and hierarchy from a small model on this machine: slow but private.",
            settings=partial(_llm, "local"),
        )
    for key, model in (
        ("OPENAI_API_KEY", "openai/gpt-4o-mini"),
        ("ANTHROPIC_API_KEY", "anthropic/claude-3-5-haiku-latest"),
    ):
        if os.environ.get(key):
            found[model] = ModelChoice(
                label=model,
                description=f"Clio facets, names and hierarchy from {model}: conversations are sent to that provider.",
                settings=partial(_llm, model),
            )
    return found


EXTRACTIVE = ModelChoice(
    label="Extractive (no language model)",
    description="Offline, no API key: the user's request as the summary, clusters named by distinctive terms.",
    settings=dict,
)


def models() -> dict[str, ModelChoice]:
    """The model menu as of now: worked out on each call, so a key set (or removed) while the
    server runs shows in the next form, and a run is checked against what is usable today."""
    return {"extractive": EXTRACTIVE, **_language_models()}


EMBEDDERS = {"minilm": "MiniLM (offline, best quality)", "hashing": "Hashing (instant, rough)"}
PROJECTORS = {"umap": "UMAP (best layout)", "pca": "PCA (instant, for very large runs)"}


@dataclass
class RunSettings:
    """What the upload form may set; checked before anything is saved."""

    model: str = "extractive"
    clusters_per_group: int = 10
    top_clusters: int | None = None
    embedder: str = "minilm"
    projector: str = "umap"

    def check(self) -> RunSettings:
        menu = models()
        if self.model not in menu:
            raise ConfigError(f"model={self.model!r} is unknown: use one of {', '.join(menu)}")
        if not 1 <= self.clusters_per_group <= 10_000:
            raise ConfigError(f"clusters per group={self.clusters_per_group} should be between 1 and 10000")
        if self.top_clusters is not None and not 1 <= self.top_clusters <= 1000:
            raise ConfigError(
                f"top-level clusters={self.top_clusters} should be between 1 and 1000, or empty for automatic"
            )
        if self.embedder not in EMBEDDERS:
            raise ConfigError(f"embedder={self.embedder!r} is unknown: use one of {', '.join(EMBEDDERS)}")
        if self.projector not in PROJECTORS:
            raise ConfigError(f"map layout={self.projector!r} is unknown: use one of {', '.join(PROJECTORS)}")
        return self

    def run_kwargs(self) -> dict[str, Any]:
        return dict(
            clusters_per_group=self.clusters_per_group,
            top_clusters=self.top_clusters,
            embedder=self.embedder,
            projector=self.projector,
            **models()[self.model].settings(),
        )


def options() -> dict[str, Any]:
    """The choices the upload form offers."""
    return {
        "models": [{"id": k, "label": m.label, "description": m.description} for k, m in models().items()],
        "embedders": [{"id": k, "label": v} for k, v in EMBEDDERS.items()],
        "projectors": [{"id": k, "label": v} for k, v in PROJECTORS.items()],
        "defaults": RunSettings().__dict__,
    }


@dataclass
class Job:
    id: str
    run: str
    path: Path
    inputs: list[Path]
    files: list[str]
    settings: RunSettings
    status: str = "queued"  # queued | running | done | failed
    stage: str | None = None
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "run": self.run,
            "status": self.status,
            "stage": self.stage,
            "stages": [{"label": s, **self.progress.get(s, {})} for s in STAGES],
            "files": self.files,
            "settings": self.settings.__dict__,
            "error": self.error,
            "seconds": round((self.finished or time.time()) - self.created, 1),
        }


class Jobs:
    """The queue of runs and the one worker thread that starts them."""

    def __init__(self, on_finish: Callable[[Job, bool], None]):
        self._jobs: dict[str, Job] = {}
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._on_finish = on_finish
        self._process: multiprocessing.process.BaseProcess | None = None
        self._stopping = False
        self._worker = threading.Thread(target=self._work, name="kura-jobs", daemon=True)
        self._worker.start()

    def submit(self, run: str, path: Path, inputs: list[Path], files: list[str], settings: RunSettings) -> Job:
        job = Job(id=uuid.uuid4().hex, run=run, path=path, inputs=inputs, files=files, settings=settings)
        self._jobs[job.id] = job
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def all(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def describe(self, job: Job) -> dict[str, Any]:
        """The job as JSON, with how many runs are ahead of it in the queue."""
        ahead = sum(1 for j in self._jobs.values() if j.created < job.created and j.status in ("queued", "running"))
        return {**job.to_json(), "ahead": ahead if job.status == "queued" else 0}

    def shutdown(self) -> None:
        """Stop the worker; a run in progress is terminated (a re-run resumes it from its cache)."""
        self._stopping = True
        self._queue.put(None)
        process = self._process
        if process is not None and process.is_alive():
            process.terminate()
            process.join(5)
        self._worker.join(5)

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None or self._stopping:
                return
            try:
                status, error = self._run(job)
            except Exception as exc:  # the worker must survive anything a run does
                status, error = "failed", f"{type(exc).__name__}: {exc}"
            job.finished = time.time()
            self._on_finish(job, status == "done")
            # Published last: a client that sees "done" can open the run at once.
            job.error, job.stage, job.status = error, (job.stage if error else None), status

    def _run(self, job: Job) -> tuple[str, str | None]:
        """Run ``job`` in a child process; its final status and error."""
        context = multiprocessing.get_context("spawn")
        events = context.Queue()
        process = context.Process(
            target=run_in_child,
            args=([str(p) for p in job.inputs], str(job.path), job.settings, events),
            name=f"kura-run-{job.run}",
            daemon=True,
        )
        job.status = "running"
        self._process = process
        process.start()
        try:
            while True:
                try:
                    kind, payload = events.get(timeout=0.5)
                except queue.Empty:
                    if not process.is_alive():
                        return "failed", f"the run stopped unexpectedly (exit code {process.exitcode})"
                    continue
                if kind == "done":
                    return "done", None
                if kind == "error":
                    return "failed", payload["message"]
                self._progress(job, kind, payload)
        finally:
            process.join(10)
            self._process = None

    @staticmethod
    def _progress(job: Job, kind: str, payload: dict[str, Any]) -> None:
        stage = job.progress.setdefault(payload["label"], {"done": 0, "total": None, "seconds": None})
        if kind == "stage":
            job.stage = payload["label"]
            stage.update(done=0, total=payload.get("total"))
        elif kind == "advance":
            stage.update(done=payload["done"])
        elif kind == "total":
            stage.update(total=payload["total"])
        elif kind == "end":
            stage.update(seconds=payload["seconds"])


class QueueReporter(Reporter):
    """A ``Reporter`` that sends stage progress to the server instead of drawing bars.

    Advances are sent at most five times a second per stage, so summarising 100,000 items does
    not flood the queue.
    """

    def __init__(self, events: Any):
        super().__init__(enabled=False)
        self.events = events

    @contextmanager
    def stage(self, label: str, total: int | None = None) -> Iterator[StageBar]:
        start = time.perf_counter()
        self.events.put(("stage", {"label": label, "total": total}))
        bar = _Bar(self.events, label)
        yield bar
        bar.flush()
        self.seconds[label] = round(time.perf_counter() - start, 3)
        self.events.put(("end", {"label": label, "seconds": self.seconds[label]}))


class _Bar(StageBar):
    def __init__(self, events: Any, label: str):
        super().__init__(None, None)
        self.events = events
        self.label = label
        self.done = 0
        self._sent = 0.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        if time.perf_counter() - self._sent > 0.2:
            self.flush()

    def total(self, total: int | None) -> None:
        self.events.put(("total", {"label": self.label, "total": total}))

    def flush(self) -> None:
        self._sent = time.perf_counter()
        self.events.put(("advance", {"label": self.label, "done": self.done}))


def run_in_child(inputs: list[str], out: str, settings: RunSettings, events: Any) -> None:
    """The child process: run the pipeline, report progress, end with "done" or "error"."""
    from kura.errors import KuraError
    from kura.pipeline import run

    try:
        run(inputs, out, reporter=QueueReporter(events), **settings.run_kwargs())
        events.put(("done", {}))
    except KuraError as exc:
        events.put(("error", {"message": str(exc)}))
    except BaseException as exc:  # shown on the page; the traceback goes to the server's log
        traceback.print_exc()
        events.put(("error", {"message": f"{type(exc).__name__}: {exc}"}))
