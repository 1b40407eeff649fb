"""The explorer's time view: a run's trends (kura/analysis/trends.py) over the conversations the
page's search and filters leave, which the page sends as a bit mask (the encoding ``/search``
answers with), plus the selected cluster's own series, at its own level."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

from kura.analysis.trends import analyse
from kura.errors import InputError
from kura.server.rundata import RunData


def decode_mask(text: str, size: int) -> np.ndarray:
    """Packed bits, least significant first, base64: one bit per row of the run."""
    try:
        packed = np.frombuffer(base64.b64decode(text, validate=True), dtype=np.uint8)
    except (binascii.Error, ValueError):
        raise InputError("mask is not base64 text") from None
    if len(packed) != (size + 7) // 8:
        raise InputError(f"mask has {len(packed) * 8} bits; this run has {size} conversations")
    return np.unpackbits(packed, bitorder="little")[:size].astype(bool)


def trends_payload(
    data: RunData, *, by: str, level: int | None, cluster: str | None, mask: np.ndarray | None
) -> dict[str, Any]:
    """The analysis at ``level`` (the heatmap's rows) and, under ``selected``, the entry of
    ``cluster`` from the analysis at the cluster's own level (None when it has no dated
    conversation among the rows)."""
    report = analyse(data.table, data.clusters, by=by, level=level, mask=mask)
    payload = report.to_json()
    payload["selected"] = None
    if cluster is not None:
        if cluster not in data.cluster_index:
            raise InputError(f"no cluster {cluster!r} in this run")
        own = int(data.clusters["level"][data.cluster_index[cluster]])
        if own != report.level:
            report = analyse(data.table, data.clusters, by=by, level=own, mask=mask)
        payload["selected"] = next((c.to_json() for c in report.clusters if c.id == cluster), None)
    return payload
