"""Assigning new conversations to known clusters, with a "possibly new" cut calibrated on the run.

A new conversation goes to the base cluster whose centroid is nearest (cosine). How well it fits
is judged against the run's own conversations, each scored as if it were new:

* **held-out scores.** Every member of the run gets its cosine to the nearest centroid, where its
  own cluster's centroid is recomputed without it (leave-one-out). That is the score it would
  have had if it had arrived after the run. Scoring members against centroids that include them
  (Kura's first cut: the 5th percentile of members' cosine to their own centroid) overstates
  their fit - in a ten-member cluster each member pulls the centroid towards itself - so that
  threshold flagged 23% of new in-scope CLINC150 queries at a nominal 5%.
* **confidence.** A new conversation's confidence is the share of held-out scores at or below
  its own (a conformal p-value): 0.3 means 30% of the run's own conversations fit their cluster
  no better. Below ``alpha`` (default 0.05) it is "possibly new". The cosine threshold is
  therefore derived (the ``alpha`` quantile of the held-out scores), never fixed: it follows the
  embedder, the data and the cluster sizes.

Measured on CLINC150 with MiniLM (bench/bench_classify.py, docs/classify.md): the held-out
threshold flags about 9% of in-scope test queries at ``alpha=0.05`` and catches 96% of the
out-of-scope ones. The gap to 5% is the clustering itself having been fit to the members, which
leaving one out does not undo. The margin to the second-nearest centroid and a k-nearest-member
score were measured too and separated out-of-scope queries less well (AUROC 0.72 and 0.98 vs 0.984).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kura.errors import KuraError
from kura.stages.ward import unit

#: Rows scored per matrix product: bounds memory at ``CHUNK x clusters`` floats.
CHUNK = 8192


@dataclass(frozen=True)
class Scores:
    """Per conversation: the ``top_k`` nearest clusters (best first), their cosines, the
    confidence of the best and whether it falls below the calibrated threshold."""

    best: np.ndarray
    similarity: np.ndarray
    confidence: np.ndarray
    unassigned: np.ndarray


@dataclass(frozen=True)
class CentroidScorer:
    """Nearest-centroid assignment with the held-out calibration described in the module."""

    centroids: np.ndarray
    #: Held-out scores of the run's members, sorted ascending (the reference distribution).
    reference: np.ndarray
    alpha: float = 0.05

    @classmethod
    def fit(cls, vectors: np.ndarray, labels: np.ndarray, *, alpha: float = 0.05) -> CentroidScorer:
        """Centroids of clusters ``0..k-1`` (``labels`` per row of ``vectors``) and the held-out
        score of every row. A member of a one-member cluster is scored against the others only."""
        if not 0 < alpha < 1:
            raise KuraError(f"alpha={alpha} should be between 0 and 1 (the share of known conversations to flag)")
        rows = unit(np.asarray(vectors, dtype=np.float32))
        labels = np.asarray(labels, dtype=np.int64)
        k = int(labels.max()) + 1 if len(labels) else 0
        sums = np.zeros((k, rows.shape[1]), dtype=np.float64)
        np.add.at(sums, labels, rows)
        sizes = np.bincount(labels, minlength=k)
        centroids = unit((sums / np.maximum(sizes, 1)[:, None]).astype(np.float32))
        held_out = []
        for start in range(0, len(rows), CHUNK):
            part, own = rows[start : start + CHUNK], labels[start : start + CHUNK]
            similarity = part @ centroids.T
            without_self = unit((sums[own] - part).astype(np.float32))
            loo = np.where(sizes[own] > 1, (part * without_self).sum(axis=1), -np.inf)
            similarity[np.arange(len(part)), own] = loo
            held_out.append(similarity.max(axis=1) if k > 1 else loo)
        reference = np.sort(np.concatenate(held_out)) if held_out else np.zeros(0, dtype=np.float32)
        reference = reference[np.isfinite(reference)]
        if not len(reference):
            raise KuraError(
                "the taxonomy cannot be calibrated: it needs a cluster of at least two conversations, "
                "or two clusters: build it from more conversations"
            )
        return cls(centroids=centroids, reference=reference, alpha=alpha)

    @property
    def threshold(self) -> float:
        """The cosine below which a conversation is possibly new: the ``alpha`` quantile of the
        held-out scores (the lowest score whose confidence reaches ``alpha``)."""
        return float(self.reference[max(math.ceil(self.alpha * len(self.reference)) - 1, 0)])

    def confidence(self, similarity: np.ndarray) -> np.ndarray:
        """Share of held-out scores at or below each similarity."""
        return np.searchsorted(self.reference, similarity, side="right") / len(self.reference)

    def score(self, vectors: np.ndarray, top_k: int = 1) -> Scores:
        """The nearest ``top_k`` clusters of each row, best first, and the best one's confidence."""
        top_k = max(1, min(top_k, len(self.centroids)))
        rows = unit(np.asarray(vectors, dtype=np.float32))
        best = np.zeros((len(rows), top_k), dtype=np.int64)
        similarity = np.zeros((len(rows), top_k), dtype=np.float32)
        for start in range(0, len(rows), CHUNK):
            s = rows[start : start + CHUNK] @ self.centroids.T
            top = np.argpartition(-s, top_k - 1, axis=1)[:, :top_k]
            picked = np.take_along_axis(s, top, axis=1)
            order = np.argsort(-picked, axis=1, kind="stable")
            best[start : start + len(s)] = np.take_along_axis(top, order, axis=1)
            similarity[start : start + len(s)] = np.take_along_axis(picked, order, axis=1)
        confidence = self.confidence(similarity[:, 0]) if len(rows) else np.zeros(0)
        return Scores(best, similarity, confidence, confidence < self.alpha)
