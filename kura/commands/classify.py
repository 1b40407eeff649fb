"""``kura classify RUN_DIR NEW_INPUT... --out DIR``: new conversations into a saved taxonomy."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 400)
err = Console(stderr=True, soft_wrap=True)


def classify(
    run_dir: Path = typer.Argument(
        ..., help="A finished run (kura run ... --out RUN_DIR): its clusters are the taxonomy."
    ),
    inputs: list[Path] = typer.Argument(..., help="New conversations: files or folders in any supported format."),
    out_dir: Path = typer.Option(
        ..., "--out", "-o", help="Run directory for the classified batch (opens in kura serve)."
    ),
    llm: str | None = typer.Option(
        None,
        "--llm",
        help="Let a language model choose among the nearest clusters (name, description, typical requests), e.g. openai/gpt-4o-mini or local.",
    ),
    embedder: str | None = typer.Option(
        None, help="Embedder, when the run's own cannot be rebuilt from run.json: it must be the same model."
    ),
    alpha: float = typer.Option(
        0.05,
        help="Share of the run's own conversations that would count as possibly new: sets the calibrated threshold.",
    ),
    top_k: int = typer.Option(5, "--top-k", help="Nearest clusters shown to the --llm."),
    format: str = typer.Option("auto", "--format", "-f", help="Input format, or auto to detect it."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    executor: str = typer.Option(
        "in-process", help="Where per-item work runs: in-process or ray, as for kura run (docs/distributed.md)."
    ),
    ray_address: str | None = typer.Option(
        None, help="With --executor ray: auto, ray://HOST:10001 or local, as for kura run."
    ),
) -> None:
    """Classify new conversations into the clusters of a finished run; unfit ones are marked possibly new."""
    from kura.runner.classify import classify as run_classify

    result = run_classify(
        run_dir,
        [str(p) for p in inputs],
        out_dir,
        llm=llm,
        embedder=embedder,
        alpha=alpha,
        top_k=top_k,
        format=format,
        progress=not quiet,
        executor=executor,
        ray_address=ray_address,
    )
    for line in result.load_report.summary_lines():
        err.print(escape(line))
    counts = result.counts
    total = counts["assigned"] + counts["unassigned"]
    table = Table("top-level cluster", "conversations", "share", title="Classified", title_justify="left")
    for name, count in result.per_top_cluster():
        table.add_row(escape(name), f"{count:,}", f"{count / total:.1%}")
    table.add_row(
        "[italic]unassigned (possibly new)[/]", f"{counts['unassigned']:,}", f"{counts['unassigned'] / total:.1%}"
    )
    out.print(table)
    out.print(
        f"[bold]Assigned:[/] {counts['assigned']:,}   [bold]Possibly new:[/] {counts['unassigned']:,}   "
        f"[bold]Threshold:[/] cosine {counts['threshold']} (alpha {alpha}, calibrated on {escape(str(run_dir))})"
    )
    if result.failures:
        err.print(
            f"[yellow]{len(result.failures)} items failed[/] (listed in {escape(str(result.path / 'errors.jsonl'))}); a re-run retries them"
        )
    out.print(f"Saved to [bold]{escape(str(result.path))}[/]  (explore it: kura serve {escape(str(result.path))})")


def register(app: typer.Typer) -> None:
    app.command()(classify)
