"""Progress bars for long stages (rich), or silence for libraries and tests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class StageBar:
    def __init__(self, progress: Progress | None, task: TaskID | None):
        self._progress = progress
        self._task = task

    def advance(self, n: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def total(self, total: int | None) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=total)


class Reporter:
    """Shows one bar per stage and keeps each stage's wall time for the sidecar."""

    def __init__(self, console: Console | None = None, enabled: bool = True):
        self.console = console or Console(stderr=True)
        self.enabled = enabled
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, label: str, total: int | None = None) -> Iterator[StageBar]:
        start = time.perf_counter()
        if not self.enabled:
            yield StageBar(None, None)
        else:
            with Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.description:<22}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=False,
            ) as progress:
                task = progress.add_task(label, total=total)
                yield StageBar(progress, task)
                progress.update(
                    task, total=progress.tasks[0].completed or 1, completed=progress.tasks[0].completed or 1
                )
        self.seconds[label] = round(time.perf_counter() - start, 3)

    def note(self, message: str) -> None:
        if self.enabled:
            self.console.print(message)
