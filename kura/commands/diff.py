"""``kura diff RUN_A RUN_B [--level N] [--json]``: what changed between two runs (kura.analysis.diff)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 400)

#: Rich styles per status.
STYLES = {
    "new": "bold green",
    "grown": "green",
    "vanished": "bold red",
    "shrunk": "red",
    "split": "yellow",
    "merged": "yellow",
    "unchanged": "dim",
}


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def diff(
    run_a: Path = typer.Argument(..., help="The earlier run directory."),
    run_b: Path = typer.Argument(..., help="The later run directory."),
    level: int | None = typer.Option(None, help="Compare this level of the trees (0 = top); default: base clusters."),
    as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON."),
    all_: bool = typer.Option(False, "--all", help="List unchanged clusters too."),
) -> None:
    """What changed between two runs: clusters new, grown, shrunk, vanished, split, merged."""
    from kura.analysis.diff import diff_runs

    result = diff_runs(run_a, run_b, level=level)
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    how = {"ids": "by shared conversations", "content": "by content (centroids and names)", "names": "by names"}
    out.print(
        f"{escape(result.run_a)} ({result.total_a:,} conversations) → {escape(result.run_b)} "
        f"({result.total_b:,}); {result.shared:,} shared; clusters matched {how[result.method]}",
        highlight=False,
    )
    table = Table("status", "cluster", "in A", "in B", "count", "share", "Δ share")
    for change in result.changes:
        if change.status == "unchanged" and not all_:
            continue
        before = " + ".join(escape(s.name) for s in change.a) or "—"
        after = " + ".join(escape(s.name) for s in change.b) or "—"
        delta = (change.share_b - change.share_a) * 100
        table.add_row(
            f"[{STYLES[change.status]}]{change.status}[/]",
            escape(change.name),
            before if change.a else "—",
            after if change.b else "—",
            f"{change.count_a:,} → {change.count_b:,}",
            f"{_pct(change.share_a)} → {_pct(change.share_b)}",
            f"{delta:+.1f} pts",
        )
    out.print(table)
    counts = ", ".join(f"{n} {status}" for status, n in result.counts().items() if n)
    hidden = "" if all_ else " (--all lists the unchanged ones)"
    out.print(f"{counts}{hidden}", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``diff`` to the ``kura`` command."""
    app.command()(diff)
