"""How well a run's clusters and names match known labels: the scorecard behind ``kura eval``.

For every level of the run's tree (0 is the top; the last is the base clusters) and every label
column, the clusters are compared with the labels by scikit-learn's NMI, AMI, ARI, homogeneity
and completeness, plus purity (the share of conversations in their cluster's majority label).

The **name score** asks whether the words on a cluster identify what is in it (the idea of
Clio's reconstruction check): the cluster names and the label names (``credit_limit`` reads
"credit limit") are embedded with the same model, each cluster's name picks the label whose
name is most similar, and the score is the share of conversations whose own label was picked.
Chance is 1 / the number of labels. The name score can never beat the level's purity (a cluster
has one name, its members several labels); **names right** takes the clusters' impurity out:
of the conversations in their cluster's most common label, the share whose cluster's name picks
that label. A level coarser than the labels cannot score well (a
cluster named "Banking" holds several intents), so the score that says most about names is at
the coarsest level with at least as many clusters as labels (``Scorecard.name_level``).

A level ``d`` holds the clusters at depth ``d`` and the base clusters of branches that end
above it, so every conversation is counted once at every level (as ``kura diff --level`` does).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from kura.analysis.diff import finished_tree
from kura.errors import InputError, KuraError
from kura.types import Cluster

#: Columns that name the conversation, in the order they are looked for.
ID_COLUMNS = ("id", "chat_id", "conversation_id")


@dataclass
class Labels:
    """Label columns read from a file: ``columns[name][conversation id] = label``."""

    path: str
    id_column: str
    columns: dict[str, dict[str, str]]
    rows: int


@dataclass
class LevelScore:
    """One level of the tree against one label column."""

    level: int
    #: "top", "base", or "" for the levels between.
    role: str
    clusters: int
    #: Labelled conversations of the run counted here.
    conversations: int
    labels: int
    nmi: float
    ami: float
    ari: float
    homogeneity: float
    completeness: float
    purity: float
    name_score: float
    chance: float
    #: The name score without the clusters' impurity: of the conversations in their cluster's
    #: most common label, the share whose cluster name picks that label (can reach 1).
    names_right: float = 0.0


@dataclass
class Scorecard:
    run: str
    labels_file: str
    embedder: str
    #: Conversations in the run, labelled ids in the file, and ids found in both.
    run_conversations: int
    labelled: int
    matched: int
    #: Per label column, one score per level (top first).
    scores: dict[str, list[LevelScore]] = field(default_factory=dict)

    def name_level(self, column: str) -> LevelScore | None:
        """The coarsest level with at least as many clusters as ``column`` has labels."""
        enough = [s for s in self.scores[column] if s.clusters >= s.labels]
        return min(enough, key=lambda s: s.clusters) if enough else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["name_level"] = {c: (s.level if (s := self.name_level(c)) else None) for c in self.scores}
        return out


# -- labels -------------------------------------------------------------------------------------
def read_labels(path: str | Path, columns: list[str] | None = None, id_column: str | None = None) -> Labels:
    """Label columns from a JSONL or CSV file (optionally gzipped) with one row per conversation.

    Without ``columns``: every column but the id whose values are plain (text or numbers), so a
    JSONL of conversations with a ``label`` field works as it is (``messages`` is skipped).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "no such labels file: give a JSONL or CSV file with an id and a label per line", path=str(path)
        )
    rows = list(_rows(path))
    if not rows:
        raise InputError(
            "the labels file is empty: give one row per conversation with an id and a label", path=str(path)
        )
    keys = list(dict.fromkeys(k for _, row in rows[:100] for k in row))
    id_col = id_column or next((c for c in ID_COLUMNS if c in keys), None)
    if id_col is None or id_col not in keys:
        wanted = id_column or " or ".join(ID_COLUMNS)
        raise InputError(
            f"no {wanted} column (columns: {', '.join(keys) or 'none'}): name it with --id-column", path=str(path)
        )
    if columns:
        missing = [c for c in columns if c not in keys]
        if missing:
            raise InputError(f"no column {missing[0]!r} (columns: {', '.join(keys)})", path=str(path))
        chosen = list(columns)
    else:
        chosen = [k for k in keys if k != id_col and all(_plain(row.get(k)) for _, row in rows)]
        if not chosen:
            raise InputError(
                f"no label column beside {id_col!r} (columns: {', '.join(keys)}): add a 'label' column", path=str(path)
            )
    out: dict[str, dict[str, str]] = {c: {} for c in chosen}
    first_line: dict[str, str] = {}
    for where, row in rows:
        raw_id = row.get(id_col)
        if raw_id is None or str(raw_id).strip() == "":
            raise InputError(
                f"no {id_col!r} in this row: every row needs the conversation's id", path=str(path), location=where
            )
        chat_id = str(raw_id).strip()
        if chat_id in first_line:
            raise InputError(
                f"id {chat_id!r} appears twice (first at {first_line[chat_id]}): keep one row per conversation",
                location=where,
            )
        first_line[chat_id] = where
        for c in chosen:
            value = row.get(c)
            if not _plain(value):
                raise InputError(
                    f"{c!r} is not a label (a {type(value).__name__}): give text or a number", location=where
                )
            if value is not None and str(value).strip() != "":  # an empty label: not labelled for this column
                out[c][chat_id] = str(value).strip()
    return Labels(str(path), id_col, out, len(rows))


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _open(path: Path) -> IO[str]:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig")
    return open(path, encoding="utf-8-sig", newline="")


def _rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(location, row) pairs; JSONL by extension or by a first character of ``{``, else CSV/TSV."""
    name = path.name.removesuffix(".gz").lower()
    try:
        with _open(path) as f:
            text = f.read()
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile) as exc:
        raise InputError(f"cannot read it ({exc}): give a UTF-8 JSONL or CSV file", path=str(path)) from exc
    is_json = name.endswith((".jsonl", ".ndjson", ".json")) or text.lstrip().startswith("{")
    out: list[tuple[str, dict[str, Any]]] = []
    if is_json:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path} line {number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"not JSON ({exc.msg}): give one JSON object per line", location=where) from exc
            if not isinstance(row, dict):
                raise InputError("not a JSON object: give one object with an id and a label per line", location=where)
            out.append((where, row))
        return out
    header = text.split("\n", 1)[0]
    delimiter = "\t" if name.endswith(".tsv") or ("\t" in header and "," not in header) else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    for record in reader:
        where = f"{path} line {reader.line_num}"
        if None in record:  # more cells than the header has names
            raise InputError("more cells than the header has columns: quote values that hold commas", location=where)
        out.append((where, dict(record)))
    return out


def label_text(label: str) -> str:
    """A label as words: ``credit_limit_change`` reads "credit limit change"."""
    return " ".join(label.replace("_", " ").replace("-", " ").split())


# -- the run ------------------------------------------------------------------------------------
def run_levels(run_dir: str | Path) -> list[list[Cluster]]:
    """The clusters of every level of a finished run, top first; the last level is the base."""
    tree = finished_tree(run_dir)
    depths = tree.depths()
    leaves = {c.id for c in tree.leaves()}
    deepest = max(depths.values(), default=0)
    return [
        [c for c in tree.clusters if depths[c.id] == d or (c.id in leaves and depths[c.id] < d)]
        for d in range(deepest + 1)
    ]


# -- scoring ------------------------------------------------------------------------------------
def score_level(truth: list[str], clusters: list[int]) -> dict[str, float]:
    """The partition metrics of one level: scikit-learn's, plus purity."""
    from sklearn import metrics

    _, t = np.unique(truth, return_inverse=True)
    _, p = np.unique(clusters, return_inverse=True)
    homogeneity, completeness, _ = metrics.homogeneity_completeness_v_measure(t, p)
    table = np.zeros((int(p.max()) + 1, int(t.max()) + 1), dtype=np.int64)
    np.add.at(table, (p, t), 1)
    return {
        "nmi": float(metrics.normalized_mutual_info_score(t, p)),
        "ami": float(metrics.adjusted_mutual_info_score(t, p)),
        "ari": float(metrics.adjusted_rand_score(t, p)),
        "homogeneity": float(homogeneity),
        "completeness": float(completeness),
        "purity": float(table.max(axis=1).sum() / len(t)),
    }


def scorecard(
    run_dir: str | Path,
    labels_path: str | Path,
    *,
    columns: list[str] | None = None,
    id_column: str | None = None,
    embedder: Any = "minilm",
) -> Scorecard:
    """Score every level of ``run_dir`` against every label column of ``labels_path``."""
    from kura.embedders import get_embedder

    levels = run_levels(run_dir)
    labels = read_labels(labels_path, columns, id_column)
    in_run = {i for c in levels[-1] for i in c.chat_ids}
    labelled = set().union(*(set(col) for col in labels.columns.values()))
    matched = in_run & labelled
    if not matched:
        example_label = next(iter(sorted(labelled)), "?")
        example_run = next(iter(sorted(in_run)), "?")
        raise KuraError(
            f"{labels_path}: none of its {len(labelled):,} ids is a conversation of {run_dir} "
            f"({len(in_run):,} conversations; e.g. {example_label!r} vs {example_run!r}): "
            f"label the run's own conversation ids (or pick the column with --id-column)"
        )
    model = get_embedder(embedder)
    names = sorted({c.name for level in levels for c in level})
    name_vectors = dict(zip(names, np.asarray(model.encode(names), dtype=np.float64)))
    card = Scorecard(
        run=str(run_dir),
        labels_file=str(labels_path),
        embedder=model.name,
        run_conversations=len(in_run),
        labelled=len(labelled),
        matched=len(matched),
    )
    for column, label_of in labels.columns.items():
        label_names = sorted({label_of[i] for i in matched if i in label_of})
        if not label_names:
            continue
        label_vectors = np.asarray(model.encode([label_text(x) for x in label_names]), dtype=np.float64)
        rows = []
        for depth, level in enumerate(levels):
            truth, assigned, hits, right, majorities = [], [], 0, 0, 0
            for number, cluster in enumerate(level):
                guessed = label_names[int(np.argmax(label_vectors @ name_vectors[cluster.name]))]
                held: Counter[str] = Counter()
                for chat_id in cluster.chat_ids:
                    own = label_of.get(chat_id) if chat_id in matched else None
                    if own is not None:
                        truth.append(own)
                        assigned.append(number)
                        hits += own == guessed
                        held[own] += 1
                if held:
                    majority, count = held.most_common(1)[0]
                    majorities += count
                    right += count if guessed == majority else 0
            role = "top" if depth == 0 else "base" if depth == len(levels) - 1 else ""
            rows.append(
                LevelScore(
                    level=depth,
                    role=role,
                    clusters=len(level),
                    conversations=len(truth),
                    labels=len(label_names),
                    name_score=hits / len(truth),
                    chance=1 / len(label_names),
                    names_right=right / majorities,
                    **score_level(truth, assigned),
                )
            )
        card.scores[column] = rows
    return card
