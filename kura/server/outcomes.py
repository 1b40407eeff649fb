"""Outcomes per cluster for the explorer (``GET /api/runs/{run}/outcomes``) and the report.

The statistics are ``kura.analysis.outcomes``'s; here they are laid out for the page: one array
per statistic, in the order of the run's clusters (``clusters.parquet``, as in the overview), so
the tree, the map and the detail panel index them by cluster number. Computed once per loaded
run and kept as bytes.
"""

from __future__ import annotations

import json
import threading
import weakref
from typing import Any

from kura.analysis.outcomes import cluster_outcomes
from kura.server.rundata import RunData

_cache: weakref.WeakKeyDictionary[RunData, bytes] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def outcomes_payload(run: RunData) -> dict[str, Any]:
    """Every outcome (attached ones and language-model facets) with its per-cluster statistics."""
    report = cluster_outcomes(run.path)
    order = run.clusters["id"]
    outcomes = []
    for o in report.outcomes:
        picked = [o.clusters.get(cid) for cid in order]

        def column(name: str, picked: list = picked) -> list[Any]:
            return [getattr(s, name) if s is not None else None for s in picked]

        outcomes.append(
            {
                "key": o.key,
                "label": o.label,
                "kind": o.kind,
                "source": o.source,
                "n": o.n,
                "value": o.value,
                "interval": o.interval,
                "test": o.test,
                "tested": o.tested,
                "flagged": len(o.flagged),
                "clusters": {
                    name: column(name)
                    for name in ("n", "value", "low", "high", "rest_value", "lift", "p", "q", "flagged")
                },
            }
        )
    return {
        "alpha": report.alpha,
        "confidence": report.confidence,
        "correction": "Benjamini-Hochberg over the clusters tested for each outcome",
        "outcomes": outcomes,
    }


def outcomes_json(run: RunData) -> bytes:
    with _lock:
        cached = _cache.get(run)
    if cached is None:
        cached = json.dumps(outcomes_payload(run), separators=(",", ":"), allow_nan=False).encode()
        with _lock:
            _cache[run] = cached
    return cached
