"""``GET /api/diff?a=RUN&b=RUN&level=N``: what changed between two runs the server shows.

Runs are looked up by name in the registry (never joined onto a path); the comparison itself
is ``kura.analysis.diff``. Results are kept per pair and level while neither run changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from kura.analysis.diff import diff_runs
from kura.server.runs import RunRegistry

#: Comparisons kept in memory.
CACHE_SIZE = 8


class RunDiffs:
    def __init__(self, registry: RunRegistry):
        self.registry = registry
        self._cache: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def compare(self, run_a: str, run_b: str, level: int | None) -> dict[str, Any]:
        """The comparison as JSON-ready data; KeyError names a run the server does not show."""
        paths = self.registry.paths()
        ready = {r["name"] for r in self.registry.listing() if r["status"] == "ready"}
        for name in (run_a, run_b):
            if name not in ready:
                raise KeyError(name)
        key = (run_a, run_b, level, RunRegistry._stamp(paths[run_a]), RunRegistry._stamp(paths[run_b]))
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        result = diff_runs(paths[run_a], paths[run_b], level=level).to_dict()
        result["run_a"], result["run_b"] = run_a, run_b  # names as the page knows them
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)
        return result
