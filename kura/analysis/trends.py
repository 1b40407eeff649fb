"""Each cluster's share of conversations per period, and the clusters whose share rises or falls.

A reader of a finished run: ``conversations.parquet`` gives each conversation's creation time
(``created_at``, UTC) and its path in the tree (``cluster_path``, root to base), and
``clusters.parquet`` the names. A conversation counts at level ``N`` (0 = top) with the cluster
at depth ``N`` of its path, or with its base cluster where the tree is shallower there; the
default level is the base clusters.

The test (docs/trends.md): per cluster, the Cochran-Armitage test for a linear trend in its
share over the period index (the score test of a binomial GLM's slope, with each period's total
as the number of trials), so a cluster of ten conversations needs far stronger evidence than one
of ten thousand. Real logs scatter more than binomially from period to period (weekdays,
releases), so the chi-square of departures from the line estimates a dispersion, and where it
is above 1 the statistic is divided by its root and referred to Student's t (quasi-binomial).
The p-values are corrected for the number of clusters tested (Benjamini-Hochberg), and only a
cluster with ``q < alpha`` gets a direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kura.errors import ConfigError, InputError
from kura.store.artifacts import CLUSTER_TABLE, CONVERSATION_TABLE
from kura.store.run import is_run_dir

Period = Literal["day", "week", "month"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
#: More columns than this is no longer a trend anyone reads (and the table grows with it).
MAX_PERIODS = 1000
_US_PER_DAY = 86_400_000_000


@dataclass
class ClusterTrend:
    """One cluster's counts and share per period, its trend and the test of it."""

    id: str
    name: str
    level: int
    counts: np.ndarray  # conversations per period
    shares: np.ndarray  # counts / period totals (NaN where a period has no conversation)
    total: int
    slope: float  # change of share per period (least squares, weighted by the period totals)
    z: float  # the trend statistic after the dispersion correction
    dispersion: float  # 1 = binomial scatter; above 1, the periods scatter more than that
    p: float
    q: float = 1.0  # p corrected for the clusters tested (Benjamini-Hochberg)
    direction: Literal["rising", "falling"] | None = None

    @property
    def first_share(self) -> float:
        return _first_finite(self.shares)

    @property
    def last_share(self) -> float:
        return _first_finite(self.shares[::-1])

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "level": self.level,
            "total": self.total,
            "counts": self.counts.tolist(),
            "shares": [_number(s) for s in self.shares],
            "first_share": _number(self.first_share),
            "last_share": _number(self.last_share),
            "slope": _number(self.slope),
            "z": _number(self.z),
            "dispersion": _number(self.dispersion),
            "p": _number(self.p),
            "q": _number(self.q),
            "direction": self.direction,
        }


@dataclass
class TrendReport:
    """Shares per period of the clusters at one level, and which of them rise or fall."""

    by: Period
    level: int
    base: bool  # the level is every conversation's own base cluster
    alpha: float
    periods: list[str]  # each period's first day (YYYY-MM-DD; YYYY-MM for months)
    totals: np.ndarray  # dated, clustered conversations per period
    clusters: list[ClusterTrend]  # largest first
    conversations: int  # rows looked at
    undated: int  # left out: no creation time
    unclustered: int  # left out: no cluster (not embedded)
    notes: list[str] = field(default_factory=list)

    @property
    def rising(self) -> list[ClusterTrend]:
        return sorted((c for c in self.clusters if c.direction == "rising"), key=lambda c: -c.slope)

    @property
    def falling(self) -> list[ClusterTrend]:
        return sorted((c for c in self.clusters if c.direction == "falling"), key=lambda c: c.slope)

    def to_json(self) -> dict[str, Any]:
        return {
            "by": self.by,
            "level": self.level,
            "base": self.base,
            "alpha": self.alpha,
            "method": METHOD,
            "periods": self.periods,
            "totals": self.totals.tolist(),
            "conversations": self.conversations,
            "undated": self.undated,
            "unclustered": self.unclustered,
            "tested": len(self.clusters),
            "rising": [c.id for c in self.rising],
            "falling": [c.id for c in self.falling],
            "clusters": [c.to_json() for c in self.clusters],
            "notes": self.notes,
        }


METHOD = (
    "Cochran-Armitage test for a linear trend in each cluster's share (quasi-binomial: scatter "
    "beyond binomial widens it), Benjamini-Hochberg across the clusters tested"
)


# -- the test -------------------------------------------------------------------------------------------
def trend_test(counts: np.ndarray, totals: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(slope, z, dispersion, p) per row of ``counts`` (clusters x periods), ``totals`` per period.

    ``slope`` is the change of share per period; ``z`` the Cochran-Armitage statistic divided by
    the root of the dispersion; ``p`` two-sided (normal when the scatter is binomial or less,
    else Student's t with the periods' degrees of freedom left after the line).
    """
    from scipy.special import ndtr, stdtr

    counts = np.asarray(counts, dtype=np.float64)
    totals = np.asarray(totals, dtype=np.float64)
    k = counts.shape[0]
    live = totals > 0
    n_total = totals.sum()
    scores = np.arange(len(totals), dtype=np.float64)
    if k == 0 or live.sum() < 2 or n_total <= 0:
        return np.zeros(k), np.zeros(k), np.ones(k), np.ones(k)
    centred = scores - (totals @ scores) / n_total
    spread = totals @ centred**2  # sum of n_t (s_t - mean s)^2
    hits = counts.sum(axis=1)
    share = hits / n_total
    statistic = counts @ centred  # sum of x_t (s_t - mean s)
    slope = statistic / spread
    variance = share * (1 - share)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(variance > 0, statistic / np.sqrt(variance * spread), 0.0)
        # Homogeneity chi-square = trend (z^2, 1 df) + departures from the line (periods - 2 df).
        expected = np.outer(share, totals[live])
        pearson = np.where(
            variance[:, None] > 0, (counts[:, live] - expected) ** 2 / (expected * (1 - share[:, None])), 0.0
        ).sum(axis=1)
    df = int(live.sum()) - 2
    dispersion = np.maximum(1.0, (pearson - z**2) / df) if df > 0 else np.ones(k)
    z = z / np.sqrt(dispersion)
    normal = 2 * ndtr(-np.abs(z))
    student = 2 * stdtr(max(df, 1), -np.abs(z))
    p = np.where(dispersion > 1, student, normal)
    return slope, z, dispersion, np.clip(p, 0.0, 1.0)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """q-values: the smallest false discovery rate at which each p would be called significant."""
    p = np.asarray(p, dtype=np.float64)
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    q = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(q, 1.0)
    return out


# -- periods --------------------------------------------------------------------------------------------
def period_keys(micros: np.ndarray, by: Period) -> np.ndarray:
    """An integer per time (microseconds since 1970, UTC) that is the same within one period:
    days since 1970, Monday-started weeks since 1970, or months since 1970-01."""
    days = np.floor_divide(micros, _US_PER_DAY)
    if by == "day":
        return days
    if by == "week":
        return np.floor_divide(days + 3, 7)  # 1970-01-01 was a Thursday: +3 puts Monday first
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)


def period_label(key: int, by: Period) -> str:
    if by == "month":
        return str(np.datetime64(int(key), "M"))
    day = key * 7 - 3 if by == "week" else key
    return str(np.datetime64(int(day), "D"))


# -- from a run -----------------------------------------------------------------------------------------
def cluster_at_level(paths: pa.Array, level: int | None) -> pa.Array:
    """Each row's cluster at depth ``level`` of its path (its base cluster where the path is
    shorter, or when ``level`` is None); null for a row without a cluster."""
    if isinstance(paths, pa.ChunkedArray):
        paths = paths.combine_chunks()
    offsets = paths.offsets.to_numpy().astype(np.int64)
    starts, ends = offsets[:-1], offsets[1:]
    valid = paths.is_valid().to_numpy(zero_copy_only=False) & (ends > starts)
    depth = ends - starts - 1
    pick = starts + (depth if level is None else np.minimum(depth, level))
    values = paths.values
    picked = values.take(pa.array(np.where(valid, pick, 0), pa.int64())) if len(values) else pa.nulls(len(paths))
    return pc.if_else(pa.array(valid), picked, pa.scalar(None, picked.type))


def analyse(
    table: pa.Table,
    clusters: dict[str, list[Any]],
    *,
    by: str = "week",
    level: int | None = None,
    alpha: float = 0.05,
    mask: np.ndarray | None = None,
) -> TrendReport:
    """Trends of the clusters at ``level`` (None: base) over ``table`` (conversations.parquet's
    ``created_at`` and ``cluster_path``), restricted to the rows where ``mask`` is true.
    ``clusters`` is clusters.parquet as columns (``id``, ``name``, ``level``)."""
    period = _check_by(by)
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha={alpha} should be between 0 and 1, e.g. 0.05")
    if "created_at" not in table.column_names:
        raise InputError(
            "conversations.parquet has no created_at column (written by an older Kura): run `kura run` on it again"
        )
    paths = table.column("cluster_path").combine_chunks()
    deepest = int(pc.max(pc.list_value_length(paths)).as_py() or 1) - 1
    if level is not None and not 0 <= level <= deepest:
        raise ConfigError(f"level {level} is not in this run's tree: use 0 (top) to {deepest} (base)")
    created = table.column("created_at").combine_chunks()
    if mask is not None:
        keep = pa.array(np.asarray(mask, dtype=bool))
        paths, created = paths.filter(keep), created.filter(keep)
    rows = len(created)
    micros = pc.cast(pc.cast(created, pa.timestamp("us", tz="UTC")), pa.int64())
    dated = micros.is_valid().to_numpy(zero_copy_only=False)
    cluster = cluster_at_level(paths, level)
    clustered = cluster.is_valid().to_numpy(zero_copy_only=False)
    used = dated & clustered
    report = TrendReport(
        by=period,
        level=deepest if level is None else level,
        base=level is None or level == deepest,
        alpha=alpha,
        periods=[],
        totals=np.zeros(0, dtype=np.int64),
        clusters=[],
        conversations=rows,
        undated=int(rows - dated.sum()),
        unclustered=int((dated & ~clustered).sum()),
    )
    if report.undated:
        report.notes.append(f"{report.undated:,} of {rows:,} conversations have no creation time and are left out")
    if report.unclustered:
        report.notes.append(f"{report.unclustered:,} dated conversations have no cluster and are left out")
    if not used.any():
        report.notes.append("no dated conversation to count")
        return report

    keys = period_keys(micros.fill_null(0).to_numpy()[used], period)
    first = int(keys.min())
    span = int(keys.max()) - first + 1
    if span > MAX_PERIODS:
        raise ConfigError(f"by {period} gives {span:,} periods (at most {MAX_PERIODS:,}): count by a longer period")
    column = keys - first
    encoded = cluster.filter(pa.array(used)).dictionary_encode()
    ids = encoded.dictionary.to_pylist()
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    counts = np.bincount(codes * span + column, minlength=len(ids) * span).reshape(len(ids), span)
    totals = counts.sum(axis=0)
    slope, z, dispersion, p = trend_test(counts, totals)
    q = benjamini_hochberg(p)
    if span < 3:
        report.notes.append(
            f"only {span} {period}{'s' if span != 1 else ''}: a trend needs at least 3 (count by a shorter period)"
        )
    name_of = dict(zip(clusters["id"], clusters["name"]))
    level_of = dict(zip(clusters["id"], clusters["level"]))
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(totals > 0, counts / np.maximum(totals, 1), np.nan)
    for i, cid in enumerate(ids):
        trend = ClusterTrend(
            id=cid,
            name=name_of.get(cid, cid),
            level=int(level_of.get(cid, report.level)),
            counts=counts[i],
            shares=shares[i],
            total=int(counts[i].sum()),
            slope=float(slope[i]),
            z=float(z[i]),
            dispersion=float(dispersion[i]),
            p=float(p[i]),
            q=float(q[i]),
        )
        if span >= 3 and trend.q < alpha and trend.slope != 0:
            trend.direction = "rising" if trend.slope > 0 else "falling"
        report.clusters.append(trend)
    report.clusters.sort(key=lambda c: (-c.total, c.name))
    report.periods = [period_label(first + t, period) for t in range(span)]
    report.totals = totals
    return report


def trends(run_dir: str | Path, *, by: str = "week", level: int | None = None, alpha: float = 0.05) -> TrendReport:
    """Trends of a finished run directory (see :func:`analyse`)."""
    import pyarrow.parquet as pq

    run_dir = Path(run_dir)
    if not is_run_dir(run_dir):
        raise InputError(
            "is not a Kura run directory (no run.json): run `kura run INPUT --out DIR` first", path=str(run_dir)
        )
    for artifact in (CONVERSATION_TABLE, CLUSTER_TABLE):
        if not (run_dir / artifact.file).is_file():
            raise InputError(
                f"the run is not finished ({artifact.file} missing): run `kura run` on it again", path=str(run_dir)
            )
    _check_by(by)
    present = pq.read_schema(run_dir / CONVERSATION_TABLE.file).names
    table = pq.read_table(
        run_dir / CONVERSATION_TABLE.file, columns=[c for c in ("created_at", "cluster_path") if c in present]
    )
    clusters = pq.read_table(run_dir / CLUSTER_TABLE.file, columns=["id", "name", "level"]).to_pydict()
    try:
        return analyse(table, clusters, by=by, level=level, alpha=alpha)
    except InputError as exc:
        raise InputError(str(exc), path=str(run_dir)) from None


def _check_by(by: str) -> Period:
    if by not in PERIODS:
        raise ConfigError(f"by {by!r} is unknown: use day, week or month")
    return by


def _first_finite(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite[0]) if len(finite) else math.nan


def _number(value: float) -> float | None:
    """JSON has no NaN: a share of an empty period is null."""
    return float(value) if math.isfinite(value) else None
