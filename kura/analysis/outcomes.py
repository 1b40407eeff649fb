"""Outcomes per cluster: attach a per-conversation table to a run, and test every cluster.

``attach_outcomes(run_dir, path)`` joins a table (feedback, revenue, cost, resolved...) to the run
by conversation id and writes ``outcomes.parquet`` (one row per conversation of the run).
``cluster_outcomes(run_dir)`` gives, for every cluster at every level and every numeric or
boolean outcome (and the language-model facets), the mean or rate with a confidence interval,
the lift against the rest of the run, a test, and a flag only when the difference survives the
correction for the number of clusters tested:

- rates (booleans, 0/1 columns, "has assistant errors"): Wilson score interval; Fisher's exact
  test of the cluster against the rest (its two-sided p-value computed from scipy's
  hypergeometric distribution, once per cluster size, which is what makes 10,000 clusters cheap);
- means (any other number): Student t interval; a two-sample t-test against the rest with the
  pooled variance. The question is "is this cluster like the rest of the run?", and under that
  hypothesis both share one variance. Welch's test, which estimates the cluster's variance on
  its own, flagged 17% of null tables of skewed 1-5 ratings (clusters of ~20) instead of 5%: a
  small cluster that by chance lacks low ratings looks both higher and tighter (see
  tests/test_outcomes.py::test_null_tables_are_flagged_about_as_often_as_alpha_allows);
- p-values of one outcome are corrected over every cluster tested for it (all levels) with
  Benjamini-Hochberg: of the clusters flagged, at most ``alpha`` (5%) are expected to be false
  leads, and when no cluster differs at all the chance of any flag is at most ``alpha``.
  Holm would guard against even one false flag, at the price of missing real differences in
  small clusters, which are the ones people look for; see docs/outcomes.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from kura.analysis.outcome_table import OutcomeTable, read_metadata_fields, read_outcome_file
from kura.errors import InputError, KuraError
from kura.store import artifacts
from kura.store.database import refresh_database
from kura.store.run import RunStore, is_run_dir
from kura.types import Cluster
from kura.types.tree import ClusterTree

Kind = Literal["rate", "mean"]

#: The language-model facets tested like outcomes: (column, label, kind).
FACET_OUTCOMES: tuple[tuple[str, str, Kind], ...] = (
    ("user_frustration", "User frustration", "mean"),
    ("assistant_errors", "Has assistant errors", "rate"),
    ("concerning_score", "Concerning score", "mean"),
)


# -- attaching ------------------------------------------------------------------------------------------
@dataclass
class AttachResult:
    """What ``attach_outcomes`` did, for the user to read."""

    path: Path
    source: str
    columns: list[str]
    rows: int
    matched: int
    conversations: int
    unknown: list[str] = field(default_factory=list)
    ignored: dict[str, str] = field(default_factory=dict)
    kept: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [
            f"{self.source}: {len(self.columns)} outcome column(s) ({', '.join(self.columns)}) "
            f"for {self.matched:,} of the run's {self.conversations:,} conversations"
        ]
        if self.unknown:
            shown = ", ".join(repr(i) for i in self.unknown[:3])
            out.append(
                f"{len(self.unknown):,} id(s) are not conversations of this run and were left out (e.g. {shown})"
            )
        for name, reason in self.ignored.items():
            out.append(f"column {name!r} left out: {reason}")
        if self.kept:
            out.append(f"kept from before: {', '.join(self.kept)}")
        return out


def attach_outcomes(
    run_dir: str | Path, path: str | Path | None = None, key: str | None = None, *, metadata: Sequence[str] = ()
) -> AttachResult:
    """Join the outcomes in ``path`` (CSV or Parquet keyed by conversation id; ``key`` names the
    id column, else chat_id, conversation_id or id) and/or the conversations' ``metadata`` fields
    to the run, and write them to its ``outcomes.parquet``. Columns attached before and not named
    again are kept."""
    import pyarrow.parquet as pq

    run_dir = Path(run_dir)
    conversations = _conversation_table(run_dir)
    chat_ids = pa.array(conversations.column("chat_id").to_pylist(), pa.string())
    tables: list[OutcomeTable] = []
    if path is not None:
        tables.append(read_outcome_file(path, key))
    if metadata:
        tables.append(
            read_metadata_fields(chat_ids.to_pylist(), conversations.column("metadata").to_pylist(), metadata)
        )
    if not tables:
        raise KuraError("nothing to attach: give a table of outcomes (CSV or Parquet) or --metadata FIELD")
    columns: dict[str, pa.Array] = {}
    result = AttachResult(
        run_dir / artifacts.OUTCOMES.file, " and ".join(t.source for t in tables), [], 0, 0, len(chat_ids)
    )
    matched = np.zeros(len(chat_ids), dtype=bool)
    for table in tables:
        result.rows += len(table.ids)
        result.ignored.update(table.ignored)
        if not table.columns:
            raise InputError(
                "has no numeric or true/false column to attach"
                + (f" ({'; '.join(f'{k}: {v}' for k, v in table.ignored.items())})" if table.ignored else ""),
                path=table.source,
            )
        rows = pc.index_in(chat_ids, value_set=pa.array(table.ids, pa.string()))
        found = rows.is_valid().to_numpy(zero_copy_only=False)
        if not found.any():
            raise InputError(
                f"none of its {len(table.ids):,} ids is a conversation of this run (its ids look like "
                f"{table.ids[0]!r}, the run's like {chat_ids[0].as_py()!r}): choose the id column with --key",
                path=table.source,
            )
        matched |= found
        known = set(chat_ids.to_pylist())
        result.unknown += [i for i in table.ids if i not in known]
        for name, values in table.columns.items():
            columns[name] = values.take(rows)
    result.matched = int(matched.sum())
    store = RunStore(run_dir, write=True)
    try:
        if store.exists(artifacts.OUTCOMES):
            before = pq.read_table(store.file(artifacts.OUTCOMES))
            at = pc.index_in(chat_ids, value_set=before.column("chat_id").combine_chunks())
            for name in before.column_names:
                if name != "chat_id" and name not in columns:
                    columns[name] = before.column(name).combine_chunks().take(at)
                    result.kept.append(name)
        result.columns = [n for n in columns if n not in result.kept]
        table = pa.table({"chat_id": chat_ids, **columns})
        store.write_binary(artifacts.OUTCOMES, lambda f: pq.write_table(table, f))
        if store.exists(artifacts.DATABASE):
            refresh_database(store)  # the run's database gains the outcomes table too
    finally:
        store.close()
    return result


def _conversation_table(run_dir: Path) -> pa.Table:
    import pyarrow.parquet as pq

    if not is_run_dir(run_dir):
        raise InputError(
            "is not a Kura run directory (no run.json): run `kura run INPUT --out DIR` first", path=str(run_dir)
        )
    path = run_dir / artifacts.CONVERSATION_TABLE.file
    if not path.exists():
        raise InputError(
            f"the run is not finished ({path.name} missing): run `kura run` on it again", path=str(run_dir)
        )
    return pq.read_table(path)


# -- the measured columns -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OutcomeColumn:
    """One measured quantity per conversation (NaN: not measured), in conversations.parquet order."""

    key: str
    label: str
    kind: Kind
    source: Literal["outcome", "facet"]
    values: np.ndarray


def outcome_columns(run_dir: str | Path) -> tuple[list[str], list[OutcomeColumn]]:
    """The run's chat ids and every outcome: the facets a language model filled, then the
    attached outcomes. Columns nobody measured (facets of an extractive run) are left out."""
    import pyarrow.parquet as pq

    run_dir = Path(run_dir)
    conversations = _conversation_table(run_dir)
    chat_ids = conversations.column("chat_id").to_pylist()
    out: list[OutcomeColumn] = []
    for name, label, kind in FACET_OUTCOMES:
        if name not in conversations.column_names:
            continue
        column = conversations.column(name).combine_chunks()
        if column.null_count == len(column):  # not computed (an extractive run)
            continue
        if kind == "rate":  # a list of errors: "has errors" where the list was filled in at all
            lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
            values = np.where(column.is_valid().to_numpy(zero_copy_only=False), lengths > 0, np.nan).astype(float)
        else:
            values = _floats(column)
        if not np.isnan(values).all():
            out.append(OutcomeColumn(name, label, kind, "facet", values))
    path = run_dir / artifacts.OUTCOMES.file
    if path.exists():
        table = pq.read_table(path)
        at = pc.index_in(pa.array(chat_ids, pa.string()), value_set=table.column("chat_id").combine_chunks())
        taken = {f.key for f in out}
        for name in table.column_names:
            if name == "chat_id":
                continue
            column = table.column(name).combine_chunks().take(at)
            values = _floats(column)
            if np.isnan(values).all():
                continue
            present = values[~np.isnan(values)]
            rate = pa.types.is_boolean(column.type) or (
                pa.types.is_integer(column.type) and bool(np.isin(present, (0, 1)).all())
            )
            key = name if name not in taken else f"outcome:{name}"
            out.append(OutcomeColumn(key, name, "rate" if rate else "mean", "outcome", values))
    return chat_ids, out


def _floats(column: pa.Array) -> np.ndarray:
    if pa.types.is_boolean(column.type):
        column = pc.cast(column, pa.int8())
    return pc.cast(column, pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False).astype(float)


# -- statistics ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ClusterOutcome:
    """One cluster's value of one outcome, against the rest of the run."""

    cluster_id: str
    n: int
    value: float | None
    low: float | None
    high: float | None
    rest_n: int
    rest_value: float | None
    #: (value - rest) / |rest|: +0.25 is 25% above the rest of the run.
    lift: float | None
    p: float | None
    #: The p-value after the Benjamini-Hochberg correction over every cluster tested.
    q: float | None
    flagged: bool


@dataclass
class OutcomeStats:
    key: str
    label: str
    kind: Kind
    source: str
    n: int
    value: float | None
    interval: str
    test: str
    tested: int
    clusters: dict[str, ClusterOutcome]

    @property
    def flagged(self) -> list[ClusterOutcome]:
        return [c for c in self.clusters.values() if c.flagged]

    def describe(self, alpha: float) -> str:
        what = "rate" if self.kind == "rate" else "mean"
        value = "n/a" if self.value is None else format_value(self.value, self.kind)
        return (
            f"{self.label}: {what} {value} over {self.n:,} conversations; {self.interval}; {self.test} against the "
            f"rest of the run; Benjamini-Hochberg over {self.tested:,} clusters tested; "
            f"{len(self.flagged)} flagged at {alpha:g}"
        )


@dataclass
class OutcomeReport:
    """Every outcome's statistics for every cluster of a run."""

    tree: ClusterTree[Cluster]
    outcomes: list[OutcomeStats]
    alpha: float
    confidence: float

    def get(self, key: str) -> OutcomeStats:
        for o in self.outcomes:
            if o.key == key or o.label == key:
                return o
        known = ", ".join(o.key for o in self.outcomes) or "none: attach a table with `kura outcomes RUN FILE`"
        raise KuraError(f"no outcome {key!r} in this run: choose one of {known}")


def cluster_outcomes(run_dir: str | Path, *, alpha: float = 0.05, confidence: float = 0.95) -> OutcomeReport:
    """The statistics of every outcome for every cluster of the run at ``run_dir``."""
    run_dir = Path(run_dir)
    store = RunStore(run_dir)
    chat_ids, columns = outcome_columns(run_dir)
    if not store.exists(artifacts.TREE):
        raise InputError("the run has no hierarchy yet (meta_clusters.jsonl): run `kura run` again", path=str(run_dir))
    tree = ClusterTree(store.read_models(artifacts.TREE, Cluster))
    # Row numbers of every cluster's conversations, looked up by Arrow in one pass (-1: not a row).
    flat = pa.array([i for c in tree.clusters for i in c.chat_ids], type=pa.string())
    rows = pc.fill_null(pc.index_in(flat, value_set=pa.array(chat_ids, type=pa.string())), -1)
    parts = np.split(
        rows.to_numpy(zero_copy_only=False).astype(np.int64), np.cumsum([len(c.chat_ids) for c in tree.clusters])[:-1]
    )
    members = {c.id: part[part >= 0] for c, part in zip(tree.clusters, parts)}
    outcomes = [cluster_stats(col, members, alpha=alpha, confidence=confidence) for col in columns]
    return OutcomeReport(tree, outcomes, alpha, confidence)


def cluster_stats(
    column: OutcomeColumn, members: dict[str, np.ndarray], *, alpha: float = 0.05, confidence: float = 0.95
) -> OutcomeStats:
    """One outcome for clusters given as row numbers into ``column.values``."""
    from scipy import stats

    values = column.values
    valid = ~np.isnan(values)
    total_n = int(valid.sum())
    ids = list(members)
    # Every cluster's sums at once: clusters x rows, one sparse product per sum (a loop over
    # 20,000 clusters of a million rows took seconds per outcome).
    per_cluster = membership(members, len(values))
    n = np.rint(per_cluster @ valid.astype(np.float64)).astype(np.int64)
    rest_n = total_n - n
    if column.kind == "rate":
        k = np.rint(per_cluster @ np.nan_to_num(values)).astype(np.int64)
        total_k = int(np.nansum(values))
        value = _ratio(k, n)
        rest = _ratio(total_k - k, rest_n)
        low, high = wilson_interval(k, n, confidence)
        p = fisher_pvalues(k, n, total_k, total_n)
        interval, test = f"{confidence:.0%} Wilson interval", "Fisher's exact test"
        overall = total_k / total_n if total_n else None
    else:
        # Sums of deviations from the overall mean: the rest of the run follows by subtraction
        # without the cancellation that raw sums of squares suffer on large values (revenue).
        overall = float(np.nanmean(values)) if total_n else None
        d = np.nan_to_num(values - (overall or 0.0))
        s1 = per_cluster @ d
        s2 = per_cluster @ (d * d)
        total_s1, total_s2 = float(np.nansum(d)), float(np.nansum(d**2))
        value = _ratio(s1, n) + (overall or 0.0)
        rest = _ratio(total_s1 - s1, rest_n) + (overall or 0.0)
        var = _variance(s1, s2, n)
        rest_var = _variance(total_s1 - s1, total_s2 - s2, rest_n)
        with np.errstate(invalid="ignore", divide="ignore"):
            half = stats.t.ppf((1 + confidence) / 2, np.maximum(n - 1, 1)) * np.sqrt(var / n)
            low, high = np.where(n >= 2, value - half, np.nan), np.where(n >= 2, value + half, np.nan)
            testable = (n >= 2) & (rest_n >= 2) & (var + rest_var > 0)
            p = np.where(
                testable,
                stats.ttest_ind_from_stats(
                    value, np.sqrt(var), n, rest, np.sqrt(rest_var), rest_n, equal_var=True
                ).pvalue,
                np.nan,
            )
        interval, test = f"{confidence:.0%} t interval", "t-test (pooled variance)"
    tested = ~np.isnan(p)
    q = np.full(len(ids), np.nan)
    if tested.any():
        q[tested] = stats.false_discovery_control(p[tested], method="bh")
    with np.errstate(invalid="ignore", divide="ignore"):
        lift = np.where(np.abs(rest) > 0, (value - rest) / np.abs(rest), np.nan)
    clusters = {
        cid: ClusterOutcome(
            cid,
            int(n[i]),
            _number(value[i]),
            _number(low[i]),
            _number(high[i]),
            int(rest_n[i]),
            _number(rest[i]),
            _number(lift[i]),
            _number(p[i]),
            _number(q[i]),
            bool(q[i] < alpha),
        )
        for i, cid in enumerate(ids)
    }
    return OutcomeStats(
        column.key,
        column.label,
        column.kind,
        column.source,
        total_n,
        overall,
        interval,
        test,
        int(tested.sum()),
        clusters,
    )


def membership(members: dict[str, np.ndarray], rows: int) -> Any:
    """A (clusters x rows) 0/1 sparse matrix (scipy CSR), clusters in ``members``' order."""
    from scipy.sparse import csr_matrix

    lists = list(members.values())
    indptr = np.concatenate([[0], np.cumsum([len(m) for m in lists])]).astype(np.int64)
    indices = np.concatenate(lists).astype(np.int64) if lists else np.zeros(0, dtype=np.int64)
    return csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(lists), rows))


def wilson_interval(k: np.ndarray, n: np.ndarray, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """The Wilson score interval of k successes in n (NaN where n is 0); matches
    ``scipy.stats.binomtest(k, n).proportion_ci(method="wilson")``, for many clusters at once."""
    from scipy import stats

    z = stats.norm.ppf((1 + confidence) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def fisher_pvalues(k: np.ndarray, n: np.ndarray, total_k: int, total_n: int) -> np.ndarray:
    """Two-sided Fisher exact p-values of each cluster (k of n) against the rest (the others of
    total_k of total_n), as ``scipy.stats.fisher_exact`` gives them: the probability, under the
    hypergeometric distribution, of a split as unlikely as the one seen. Clusters of one size
    share the distribution, so it is computed once per size. NaN when nothing can be tested."""
    from scipy import stats

    p = np.full(len(k), np.nan)
    testable = (n > 0) & (n < total_n) & (0 < total_k) & (total_k < total_n)
    for size in np.unique(n[testable]):
        pmf = stats.hypergeom.pmf(np.arange(size + 1), total_n, total_k, size)
        at = np.flatnonzero(testable & (n == size))
        seen = pmf[k[at]]
        # As scipy does: every split no more likely than the one seen (with a relative tolerance).
        p[at] = np.minimum(1.0, (pmf[None, :] * (pmf[None, :] <= seen[:, None] * (1 + 1e-7))).sum(axis=1))
    return p


def _ratio(a: np.ndarray | float, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b > 0, np.asarray(a, dtype=float) / np.maximum(b, 1), np.nan)


def _variance(s1: np.ndarray, s2: np.ndarray, n: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n >= 2, np.maximum(s2 - s1 * s1 / np.maximum(n, 1), 0) / np.maximum(n - 1, 1), np.nan)


def _number(x: float) -> float | None:
    return None if np.isnan(x) else float(x)


def format_value(value: float, kind: Kind) -> str:
    if kind == "rate":
        return f"{value:.1%}"
    magnitude = abs(value)
    return f"{value:,.0f}" if magnitude >= 1000 else f"{value:.2f}" if magnitude < 10 else f"{value:,.1f}"


def format_lift(lift: float | None) -> str:
    return "" if lift is None else f"{lift:+.0%}"


def flagged_marker(stat: ClusterOutcome) -> str:
    """▲ or ▼ when the cluster is significantly above or below the rest of the run."""
    if not stat.flagged or stat.value is None or stat.rest_value is None:
        return ""
    return "▲" if stat.value > stat.rest_value else "▼"


def in_tree_order(tree: ClusterTree[Cluster], max_depth: int | None = None) -> Iterable[tuple[Cluster, int]]:
    """Clusters depth first (roots are depth 0), down to ``max_depth``."""
    for node, depth in tree.walk():
        if max_depth is None or depth < max_depth:
            yield node, depth
