"""``kura trends RUN_DIR``: each cluster's share per period, and the clusters rising and falling."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kura.analysis.trends import PERIODS, ClusterTrend, TrendReport, trends

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 400)

SPARKS = "▁▂▃▄▅▆▇█"


def trends_command(
    run_dir: Path = typer.Argument(..., help="A run directory written by `kura run`."),
    by: str = typer.Option("week", "--by", help=f"Period: {', '.join(PERIODS)} (UTC; weeks start on Monday)."),
    level: int | None = typer.Option(
        None, "--level", help="Tree level to count at: 0 is the top (default: the base clusters)."
    ),
    alpha: float = typer.Option(0.05, "--alpha", help="False discovery rate for calling a trend (Benjamini-Hochberg)."),
    show_all: bool = typer.Option(False, "--all", help="List every cluster, not only the rising and falling ones."),
    as_json: bool = typer.Option(False, "--json", help="Print the whole analysis as JSON."),
) -> None:
    """Which clusters grow or shrink over time: shares per period and a trend test per cluster."""
    from kura.errors import KuraError

    report = trends(run_dir, by=by, level=level, alpha=alpha)
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")
        return
    if not report.periods:
        raise KuraError(
            f"{run_dir}: no conversation has a creation time, so there is nothing to count per {by} "
            "(formats with times: claude, chatgpt, kura, or a created_at field or column)"
        )
    where = (
        "base clusters"
        if report.base
        else "top-level clusters"
        if report.level == 0
        else f"level {report.level} clusters (0 is the top)"
    )
    out.print(
        f"[bold]Shares per {report.by}[/] of {where}: {int(report.totals.sum()):,} conversations, "
        f"{report.periods[0]} to {report.periods[-1]} ({len(report.periods)} {report.by}s)"
    )
    for note in report.notes:
        out.print(f"[yellow]{escape(note)}[/]")
    tested = f"q < {report.alpha:g}, Benjamini-Hochberg over {len(report.clusters):,} clusters"
    for title, rows, none in (
        ("Rising", report.rising, "No cluster's share rose significantly"),
        ("Falling", report.falling, "No cluster's share fell significantly"),
    ):
        if rows:
            out.print(_table(f"{title} ({tested})", rows, report))
        else:
            out.print(f"{none} ({tested}).")
    if show_all:
        out.print(_table("Every cluster, largest first", report.clusters, report))


def _table(title: str, rows: list[ClusterTrend], report: TrendReport) -> Table:
    table = Table(
        "cluster",
        "conversations",
        f"first {report.by}",
        f"last {report.by}",
        f"change per {report.by}",
        "q",
        "trend",
        "",
        title=title,
        title_justify="left",
    )
    for c in rows:
        table.add_row(
            escape(c.name),
            f"{c.total:,}",
            _percent(c.first_share),
            _percent(c.last_share),
            f"{c.slope * 100:+.2f} pp",
            f"{c.q:.2g}",
            c.direction or "",
            sparkline(c.shares),
        )
    return table


def sparkline(values: Iterable[float]) -> str:
    """One block character per period, scaled to the series' own largest value (a gap: blank)."""
    numbers = [float(v) for v in values]
    top = max((v for v in numbers if math.isfinite(v)), default=0.0)
    return "".join(
        " "
        if not math.isfinite(v)
        else SPARKS[min(len(SPARKS) - 1, int(v / top * (len(SPARKS) - 1) + 0.5)) if top else 0]
        for v in numbers
    )


def _percent(share: float) -> str:
    return "" if not math.isfinite(share) else f"{share * 100:.1f}%"


def register(app: typer.Typer) -> None:
    """Add ``trends`` to the ``kura`` command."""
    app.command("trends")(trends_command)
