"""``kura export RUN_DIR --format csv|parquet|json --out DIR``: every table of a run, as files."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

out = Console(soft_wrap=True)


def export(
    run_dir: Path = typer.Argument(..., help="A run directory written by `kura run`."),
    format: str = typer.Option("parquet", "--format", "-f", help="parquet, csv, or json (one object per line)."),
    out_dir: Path = typer.Option(..., "--out", "-o", help="Folder to write the tables into (one file per table)."),
) -> None:
    """Write every table of a run (conversations, messages, summaries, clusters, memberships, positions, outcomes) as files."""
    from kura.store.database import export_tables

    for path in export_tables(run_dir, out_dir, format):
        out.print(f"{escape(str(path))}  {path.stat().st_size:,} bytes", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``export`` to the ``kura`` command."""
    app.command()(export)
