"""``kura outcomes RUN_DIR [TABLE]``: attach per-conversation outcomes and print them per cluster."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from kura.errors import KuraError

if TYPE_CHECKING:
    from kura.analysis.outcomes import OutcomeReport
    from kura.types import Cluster

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 400)
err = Console(stderr=True, soft_wrap=True)


def outcomes(
    run_dir: Path = typer.Argument(..., help="A run directory written by `kura run`."),
    table: Path | None = typer.Argument(
        None, help="A CSV or Parquet table keyed by conversation id (feedback, revenue, cost, resolved...)."
    ),
    key: str | None = typer.Option(
        None, "--key", help="The table's conversation id column (default: chat_id, conversation_id or id)."
    ),
    metadata: list[str] = typer.Option(
        [], "--metadata", "-m", help="Also attach this metadata field of the conversations (repeatable)."
    ),
    sort: str | None = typer.Option(
        None, "--sort", help="List clusters by this outcome, highest first (default: in tree order)."
    ),
    ascending: bool = typer.Option(False, "--ascending", help="With --sort: lowest first."),
    flagged: bool = typer.Option(False, "--flagged", help="Only clusters flagged for some outcome."),
    depth: int | None = typer.Option(None, help="Only clusters down to this depth (1: the top level)."),
) -> None:
    """Attach outcomes to a run and print each cluster's mean or rate, interval, lift and flag."""
    from kura.analysis.outcomes import attach_outcomes, cluster_outcomes

    if table is not None or metadata:
        result = attach_outcomes(run_dir, table, key, metadata=metadata)
        for line in result.lines():
            err.print(escape(line))
    elif key is not None:
        raise KuraError("--key names the id column of a table: give the table too (kura outcomes RUN TABLE --key COL)")
    report = cluster_outcomes(run_dir)
    if not report.outcomes:
        raise KuraError(
            f"{run_dir}: no outcomes to show: attach a table (kura outcomes {run_dir} feedback.csv); "
            "the language-model facets exist only in runs made with --llm"
        )
    shown = report.outcomes
    rows = [(node, d) for node, d in report.tree.walk() if depth is None or d < depth]
    if flagged:
        rows = [(node, d) for node, d in rows if any(o.clusters[node.id].flagged for o in shown)]
    if sort is not None:
        chosen = report.get(sort)

        def sort_key(item: tuple[Cluster, int]) -> float:
            value = chosen.clusters[item[0].id].value
            return float("inf") if value is None else value if ascending else -value

        rows.sort(key=sort_key)
    out.print(outcome_table(report, rows, indent=sort is None))
    for o in shown:
        out.print(escape(o.describe(report.alpha)), highlight=False)
    out.print(
        "[dim]▲ ▼ significantly above / below the rest of the run after the correction; lift = (cluster - rest) / rest[/]"
    )


def outcome_table(report: OutcomeReport, rows: list[tuple[Cluster, int]], *, indent: bool) -> Table:
    """One line per cluster: its size, then per outcome the value, interval, lift and flag."""
    from kura.analysis.outcomes import flagged_marker, format_lift, format_value

    table = Table("cluster", "n", *[escape(o.label) for o in report.outcomes], title="Outcomes per cluster")
    for node, depth in rows:
        cells = []
        for o in report.outcomes:
            s = o.clusters[node.id]
            if s.value is None:
                cells.append(Text("-", style="dim"))
                continue
            cell = Text(format_value(s.value, o.kind), style="bold" if s.flagged else "")
            if s.low is not None and s.high is not None:
                cell.append(f" [{format_value(s.low, o.kind)}, {format_value(s.high, o.kind)}]", style="dim")
            cell.append(f" {format_lift(s.lift)}")
            marker = flagged_marker(s)
            if marker:
                cell.append(f" {marker}", style="bold red" if marker == "▼" else "bold green")
            cells.append(cell)
        name = Text(("  " * depth if indent else "") + node.name)  # names come from conversations: never markup
        table.add_row(name, f"{len(node.chat_ids):,}", *cells)
    return table


def register(app: typer.Typer) -> None:
    """Add ``outcomes`` to the ``kura`` command."""
    app.command()(outcomes)


def outcome_notes(run_dir: Path, key: str) -> dict[str, Text]:
    """Per cluster id, the outcome's value and lift with ▲/▼ when flagged (for ``kura tree --outcome``)."""
    from kura.analysis.outcomes import cluster_outcomes, flagged_marker, format_lift, format_value

    stats = cluster_outcomes(run_dir).get(key)
    notes = {}
    for cid, s in stats.clusters.items():
        if s.value is None:
            continue
        note = Text(f"{stats.label} {format_value(s.value, stats.kind)} {format_lift(s.lift)}", style="cyan")
        marker = flagged_marker(s)
        if marker:
            note.append(f" {marker}", style="bold red" if marker == "▼" else "bold green")
        notes[cid] = note
    return notes
