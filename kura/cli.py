"""The ``kura`` command: ``kura run`` the pipeline, ``kura tree`` a finished run, ``kura sql`` it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kura.errors import KuraError

if TYPE_CHECKING:
    from kura.config import RunConfig
    from kura.pipeline import RunResult

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Kura: see what your users ask your AI for. Summarise, cluster and map chat logs.",
)
# Piped output keeps whole names on one line; a terminal gets its own width.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 400)
err = Console(stderr=True, soft_wrap=True)  # an error stays one line, however long


def run(
    inputs: list[Path] = typer.Argument(
        ..., help="Files or folders of conversations (any supported format; see `kura formats`)."
    ),
    out_dir: Path = typer.Option(
        Path("kura-run"), "--out", "-o", help="Run directory: outputs, cache and resume state."
    ),
    depth: int | None = typer.Option(None, help="Print the tree down to this depth only."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Estimate tokens and cost for --llm without calling it, then stop."
    ),
    **settings: Any,
) -> None:
    """Run the whole pipeline on INPUTS and print the tree of what users ask for."""
    import kura
    from kura.privacy.report import privacy_line
    from kura.visualization import rich_tree

    config = kura.RunConfig.of(**{k: _parsed(k, v) for k, v in settings.items()})
    if dry_run:
        _dry_run(inputs, config)
        return
    result = kura.run([str(p) for p in inputs], out_dir, config=config, progress=not quiet)
    for line in result.load_report.summary_lines():
        err.print(escape(line))
    marks, legend = _named_by_marks(result.clusters)
    out.print(rich_tree(result.clusters, max_depth=depth, notes=marks or None))
    if legend:
        out.print(legend)
    out.print(
        f"\n[bold]Mode:[/] {escape(result.mode)}   [bold]Conversations:[/] {len(result.summaries):,}   "
        f"[bold]Clusters:[/] {len(result.clusters)} ({len(result.roots)} at the top)"
    )
    out.print(escape(privacy_line(result.privacy)))
    err.print(_stages_table(result))  # timings vary: diagnostics go to stderr, the result to stdout
    if result.usage:
        out.print(_usage_table(result.usage))
    if result.failures:
        err.print(
            f"[yellow]{len(result.failures)} items failed[/] (listed in {escape(str(result.path / 'errors.jsonl'))}); a re-run retries them:"
        )
        for failure in result.failures[:5]:
            err.print(f"  {escape(failure['id'])} {escape('[' + failure['stage'] + ']')}: {escape(failure['error'])}")
    out.print(f"Saved to [bold]{escape(str(result.path))}[/]  (see it again: kura tree {escape(str(result.path))})")


def _named_by_marks(clusters: list[Any]) -> tuple[dict[str, Any], str]:
    """A mark on each name a model made, when a run mixes namers (--local-names), and the legend."""
    from rich.text import Text

    by_model = [c for c in clusters if c.named_by not in (None, "terms")]
    if not by_model or len(by_model) == len(clusters):
        return {}, ""
    models = ", ".join(sorted({c.named_by for c in by_model}))
    legend = f"[cyan]✦[/] named by {escape(models)} ({len(by_model)} of {len(clusters)}); the rest by distinctive terms"
    return {c.id: Text("✦", style="cyan") for c in by_model}, legend


def _stages_table(result: RunResult) -> Table:
    """What each stage did: items it computed, items it took from the cache or the last run."""
    table = Table("stage", "items computed", "items reused", "seconds", "stage", title="Stages", title_justify="left")
    for name, record in result.stages.items():
        whole = "reused" if name in result.reused else "ran" if record.complete else "ran, with failures"
        table.add_row(name, f"{record.computed:,}", f"{record.reused:,}", f"{record.seconds:.1f}", whole)
    return table


def _usage_table(usage: dict) -> Table:
    """Requests, tokens and estimated cost per stage, as stored in run.json."""
    table = Table(
        "stage",
        "model",
        "requests",
        "cached",
        "retries",
        "failed",
        "tokens in",
        "tokens out",
        "est. cost",
        title=f"Language-model usage (prices as of {usage['prices_as_of']})",
        title_justify="left",
    )

    def dollars(value: float | None) -> str:
        return "unknown" if value is None else f"${value:,.4f}"

    for label, row in usage["stages"].items():
        table.add_row(
            label,
            escape(row["model"]),
            f"{row['requests']:,}",
            f"{row['cached']:,}",
            f"{row['retries']:,}",
            f"{row['failures']:,}",
            f"{row['input_tokens']:,}",
            f"{row['output_tokens']:,}",
            dollars(row["cost_usd"]),
        )
    total = usage["total"]
    table.add_row(
        "[bold]total[/]",
        "",
        f"{total['requests']:,}",
        f"{total['cached']:,}",
        f"{total['retries']:,}",
        f"{total['failures']:,}",
        f"{total['input_tokens']:,}",
        f"{total['output_tokens']:,}",
        dollars(total["cost_usd"]),
    )
    return table


def _dry_run(inputs: list[Path], config: RunConfig) -> None:
    """Count what a run would send (no requests) and price it."""
    if config.llm is None:
        out.print("No --llm: the run is extractive and calls no language model, so it costs nothing.")
        return
    from kura.io import iter_conversations
    from kura.llm import LLMSummariser, estimate, get_llm

    summariser = LLMSummariser(get_llm(config.llm, base_url=config.base_url, max_concurrency=config.concurrency))
    conversations = iter_conversations(
        [str(p) for p in inputs], format=config.format, strict=config.strict, columns=config.columns
    )
    result = estimate(
        (summariser.messages(c) for c in conversations if c.messages),
        summariser.llm.name,
        clusters_per_group=config.clusters_per_group,
        top_clusters=config.top_clusters,
        levels=config.levels,
    )
    for line in result.lines():
        out.print(escape(line))
    out.print("Dry run: nothing was sent. Run again without --dry-run to spend it.")


def _parsed(name: str, value: Any) -> Any:
    """A setting as the command line gave it, turned into what kura.run takes."""
    from kura.config import option

    parse = option(name).parse
    return parse(value) if parse is not None and value is not None else value


def _with_run_options(command: Any) -> Any:
    """Give ``kura run`` one option per field of kura.RunConfig, in place of its ``**settings``:
    the flags, help, defaults and choices all come from the one declaration (kura/config.py)."""
    import inspect

    from kura.config import RunConfig, cli_type, option

    signature = inspect.signature(command)
    head = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    generated = []
    for name, field in RunConfig.model_fields.items():
        declared = option(name)
        flags = declared.flags or (() if field.annotation is bool else ("--" + name.replace("_", "-"),))
        help = declared.help
        if declared.choices is not None:
            help += " One of: " + ", ".join(declared.choices()) + "."
        default = (
            field.default if field.default is None or isinstance(field.default, str | int | float | bool) else None
        )
        generated.append(
            inspect.Parameter(  # typer passes every option by name: the order is the help's
                name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=typer.Option(default, *flags, help=help),
                annotation=cli_type(name),
            )
        )
    command.__signature__ = signature.replace(parameters=[*head[:2], *generated, *head[2:]])
    return command


app.command()(_with_run_options(run))


@app.command()
def tree(
    run_dir: Path = typer.Argument(..., help="A run directory written by `kura run`."),
    style: str = typer.Option("rich", help="rich, basic or enhanced (Kura 0.5's styles), or json."),
    depth: int | None = typer.Option(None, help="Show levels down to this depth only."),
    descriptions: bool = typer.Option(False, help="Show each cluster's description."),
    outcome: str | None = typer.Option(
        None,
        "--outcome",
        help="Show this outcome per cluster (see `kura outcomes`): mean or rate, ▲▼ when significant.",
    ),
) -> None:
    """Print the cluster tree of a finished run again."""
    from kura.store import RunStore, artifacts, is_run_dir
    from kura.types import Cluster
    from kura.visualization import render_tree, rich_tree, tree_json

    if not is_run_dir(run_dir):
        raise KuraError(
            f"{run_dir}: not a Kura run directory (no run.json): run `kura run INPUT --out {run_dir}` first"
        )
    store = RunStore(run_dir)
    if not store.exists(artifacts.TREE):
        raise KuraError(
            f"{run_dir}: the run has no hierarchy yet (meta_clusters.jsonl): run `kura run` again to finish it"
        )
    clusters = store.read_models(artifacts.TREE, Cluster)
    if outcome is not None and style != "rich":
        raise KuraError("--outcome shows in the rich style only: leave out --style")
    if style == "rich":
        notes = None
        if outcome is not None:
            from kura.commands.outcomes import outcome_notes

            notes = outcome_notes(run_dir, outcome)
        out.print(rich_tree(clusters, max_depth=depth, descriptions=descriptions, notes=notes))
    elif style in ("basic", "enhanced"):
        out.print(escape(render_tree(clusters, style=style, max_depth=depth)), highlight=False)  # type: ignore[arg-type]
    elif style == "json":
        sys.stdout.write(tree_json(clusters) + "\n")
    else:
        raise KuraError(f"--style {style!r} is unknown: use rich, basic, enhanced or json")
    mode = store.meta.mode
    if mode and style != "json":
        out.print(f"[dim]Mode: {escape(mode)}[/]")


@app.command()
def sql(
    run_dir: Path = typer.Argument(..., help="A run directory written by `kura run`."),
    query: str = typer.Argument(
        ..., help="SQL over the run's tables (conversations, messages, summaries, clusters, ...); .tables lists them."
    ),
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


# The other commands, one module each (kura/commands/, kura/server/commands.py); they need `app`.
from kura.commands import classify, diff, doctor, eval, export, outcomes, trends  # noqa: E402
from kura.server import commands as server_commands  # noqa: E402

for _module in (server_commands, classify, outcomes, trends, diff, export, doctor, eval):
    _module.register(app)


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
    except typer.Abort:
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except _click_exceptions() as exc:  # a usage error (unknown option, bad value): click's own message
        exc.show()
        sys.exit(exc.exit_code)


def _click_exceptions() -> tuple[Any, ...]:
    """Click's usage errors: typer 0.29 and later raise those of the click it carries inside."""
    import click

    found: list[Any] = [click.ClickException]
    try:
        from typer._click.exceptions import ClickException
    except ImportError:  # an older typer, on the installed click
        return tuple(found)
    return (*found, ClickException)


if __name__ == "__main__":
    main()
