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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from kura.config import RunConfig, option
from kura.errors import ConfigError
from kura.progress import Reporter, StageBar
from kura.runner.graph import STAGES as GRAPH

#: The stages ``kura.run`` reports, in order: the declared graph's own labels.
STAGES = [stage.label for stage in GRAPH]


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


def form_fields() -> list[str]:
    """The kura.RunConfig settings the form offers (those declared with a form label)."""
    return [name for name in RunConfig.model_fields if option(name).form]


class RunSettings:
    """What the New run form may set: a model from the menu, and the form's RunConfig fields.
    Checked (with the form's bounds, which are narrower than the library's) before anything is saved."""

    def __init__(self, model: str = "extractive", **values: Any):
        unknown = sorted(set(values) - set(form_fields()))
        if unknown:
            raise ConfigError(f"{unknown[0]} is not a setting of the New run form")
        self.model = model
        self.values = {name: values.get(name, RunConfig.model_fields[name].default) for name in form_fields()}

    @classmethod
    def from_form(cls, form: Mapping[str, Any]) -> RunSettings:
        """The settings a submitted form carries; an empty field takes the default."""
        values: dict[str, Any] = {}
        for name in form_fields():
            raw = form.get(name)
            if raw is None or str(raw).strip() == "":
                continue
            if _is_int(name):
                try:
                    values[name] = int(str(raw))
                except ValueError:
                    raise ConfigError(f"{option(name).form}={raw!r} should be a whole number") from None
            else:
                values[name] = str(raw)
        return cls(model=str(form.get("model") or "extractive"), **values)

    def check(self) -> RunSettings:
        menu = models()
        if self.model not in menu:
            raise ConfigError(f"model={self.model!r} is unknown: use one of {', '.join(menu)}")
        for name, value in self.values.items():
            declared = option(name)
            label = (declared.form or name).lower()
            if (
                declared.form_range
                and value is not None
                and not declared.form_range[0] <= value <= declared.form_range[1]
            ):
                low, high = declared.form_range
                empty = ", or empty for automatic" if RunConfig.model_fields[name].default is None else ""
                raise ConfigError(f"{label}={value} should be between {low} and {high}{empty}")
            if declared.choices is not None and value not in declared.choices():
                raise ConfigError(f"{label}={value!r} is unknown: use one of {', '.join(declared.choices())}")
        RunConfig.of(**self.values)  # the library's own checks too
        return self

    def run_kwargs(self) -> dict[str, Any]:
        return {**self.values, **models()[self.model].settings()}

    def as_dict(self) -> dict[str, Any]:
        return {"model": self.model, **self.values}


def _is_int(name: str) -> bool:
    return RunConfig.model_fields[name].annotation in (int, int | None)


def options() -> dict[str, Any]:
    """The form as the page draws it: the model menu and each offered setting, generated from
    kura.RunConfig and worked out on each call."""
    fields = []
    for name in form_fields():
        declared = option(name)
        field: dict[str, Any] = {
            "name": name,
            "label": declared.form,
            "note": declared.note,
            "advanced": declared.advanced,
            "default": RunConfig.model_fields[name].default,
        }
        if declared.choices is not None:
            field["choices"] = [{"id": k, "label": v} for k, v in declared.choices().items()]
        elif _is_int(name):
            field["kind"] = "int"
            if declared.form_range:
                field["min"], field["max"] = declared.form_range
        fields.append(field)
    return {
        "models": [{"id": k, "label": m.label, "description": m.description} for k, m in models().items()],
        "fields": fields,
        "defaults": RunSettings().as_dict(),
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
            "settings": self.settings.as_dict(),
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
