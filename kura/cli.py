"""The ``kura`` command: ``kura run`` the pipeline, ``kura tree`` a finished run, ``kura sql`` it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kura.errors import KuraError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Kura: see what your users ask your AI for. Summarise, cluster and map chat logs.",
)
# Piped output keeps whole names on one line; a terminal gets its own width.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 400)
err = Console(stderr=True, soft_wrap=True)  # an error stays one line, however long


@app.command()
def run(
    inputs: List[Path] = typer.Argument(..., help="Files or folders of conversations (any supported format; see `kura formats`)."),
    out_dir: Path = typer.Option(Path("kura-run"), "--out", "-o", help="Run directory: outputs, cache and resume state."),
    format: str = typer.Option("auto", "--format", "-f", help="Input format, or auto to detect it from the content."),
    columns: Optional[str] = typer.Option(None, help="Column mapping for CSV/Parquet, e.g. id=conv_id,role=speaker,content=text."),
    strict: bool = typer.Option(False, help="Stop at the first malformed record instead of skipping and counting it."),
    clusters_per_group: int = typer.Option(10, "--clusters-per-group", "-k", help="Conversations per base cluster: k = ceil(n / this)."),
    top_clusters: Optional[int] = typer.Option(None, "--top-clusters", "-t", help="Clusters at the top of the tree (default: about sqrt(base count), at most 10)."),
    levels: Optional[int] = typer.Option(None, help="Levels above the base clusters (default: enough to keep each step at most 8:1)."),
    clusterer: str = typer.Option("kmeans", help="Base clustering: kmeans, minibatch or hdbscan."),
    embedder: str = typer.Option("minilm", help="Embedder: minilm (offline ONNX) or hashing (instant, for tests)."),
    projector: str = typer.Option("umap", help="Map layout: umap or pca (instant, for huge runs)."),
    seed: int = typer.Option(0, help="Random seed: the same seed gives the same result."),
    depth: Optional[int] = typer.Option(None, help="Print the tree down to this depth only."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Run the whole pipeline on INPUTS and print the tree of what users ask for."""
    import kura
    from kura.io import parse_column_map
    from kura.visualization import rich_tree

    result = kura.run(
        [str(p) for p in inputs],
        out_dir,
        format=format,
        strict=strict,
        columns=parse_column_map(columns) if columns else None,
        clusters_per_group=clusters_per_group,
        top_clusters=top_clusters,
        levels=levels,
        clusterer=clusterer,
        embedder=embedder,
        projector=projector,
        seed=seed,
        progress=not quiet,
    )
    for line in result.load_report.summary_lines():
        err.print(escape(line))
    out.print(rich_tree(result.clusters, max_depth=depth))
    out.print(
        f"\n[bold]Mode:[/] {escape(result.mode)}   [bold]Conversations:[/] {len(result.summaries):,}   "
        f"[bold]Clusters:[/] {len(result.clusters)} ({len(result.roots)} at the top)"
    )
    if result.reused:
        out.print(f"[dim]Reused from the previous run: {', '.join(result.reused)}[/]")
    if result.failures:
        err.print(f"[yellow]{len(result.failures)} conversations failed[/] (listed in {escape(str(result.path / 'errors.jsonl'))}); a re-run retries them:")
        for failure in result.failures[:5]:
            err.print(f"  {escape(failure['id'])} [{failure['stage']}]: {escape(failure['error'])}")
    out.print(f"Saved to [bold]{escape(str(result.path))}[/]  (see it again: kura tree {escape(str(result.path))})")


@app.command()
def tree(
    run_dir: Path = typer.Argument(..., help="A run directory written by `kura run`."),
    style: str = typer.Option("rich", help="rich, basic or enhanced (Kura 0.5's styles), or json."),
    depth: Optional[int] = typer.Option(None, help="Show levels down to this depth only."),
    descriptions: bool = typer.Option(False, help="Show each cluster's description."),
) -> None:
    """Print the cluster tree of a finished run again."""
    from kura.store import RunStore, is_run_dir
    from kura.types import Cluster
    from kura.visualization import render_tree, rich_tree, tree_json

    if not is_run_dir(run_dir):
        raise KuraError(f"{run_dir}: not a Kura run directory (no run.json): run `kura run INPUT --out {run_dir}` first")
    store = RunStore(run_dir)
    if not store.exists("meta_clusters.jsonl"):
        raise KuraError(f"{run_dir}: the run has no hierarchy yet (meta_clusters.jsonl): run `kura run` again to finish it")
    clusters = store.read_models("meta_clusters.jsonl", Cluster)
    if style == "rich":
        out.print(rich_tree(clusters, max_depth=depth, descriptions=descriptions))
    elif style in ("basic", "enhanced"):
        out.print(escape(render_tree(clusters, style=style, max_depth=depth)), highlight=False)  # type: ignore[arg-type]
    elif style == "json":
        sys.stdout.write(tree_json(clusters) + "\n")
    else:
        raise KuraError(f"--style {style!r} is unknown: use rich, basic, enhanced or json")
    mode = store.meta.get("mode")
    if mode and style != "json":
        out.print(f"[dim]Mode: {escape(mode)}[/]")


@app.command()
def sql(
    run_dir: Path = typer.Argument(..., help="A run directory written by `kura run`."),
    query: str = typer.Argument(..., help="SQL over the tables `conversations` and `clusters`."),
) -> None:
    """Query a run with SQL (DuckDB), e.g. kura sql RUN "select top_cluster, count(*) from conversations group by 1"."""
    from kura.store.export import sql as run_sql

    try:
        columns, rows = run_sql(run_dir, query)
    except KuraError:
        raise
    except Exception as exc:  # DuckDB's own message says what is wrong with the query
        raise KuraError(f"query failed: {exc}") from exc
    table = Table(*[escape(c) for c in columns])
    for row in rows:
        table.add_row(*[escape("" if v is None else str(v)) for v in row])
    out.print(table)


@app.command()
def formats() -> None:
    """List the input formats Kura reads."""
    from kura.io import FORMATS

    table = Table("format", "what it is")
    for name, description in FORMATS.items():
        table.add_row(name, description)
    out.print(table)


def main() -> None:
    """Entry point: errors become one clear line and a non-zero exit, never a traceback."""
    try:
        app(standalone_mode=False)
    except KuraError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}")
        sys.exit(1)
    except KeyboardInterrupt:
        err.print("interrupted: run the same command again to resume where it stopped")
        sys.exit(130)
    except (typer.Abort,):
        sys.exit(1)
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
