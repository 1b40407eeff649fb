"""``kura eval RUN_DIR LABELS [--json]``: the run's clusters and names against known labels
(kura.analysis.scorecard)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 400)


def eval_command(
    run_dir: Path = typer.Argument(..., help="A run directory written by `kura run`."),
    labels: Path = typer.Argument(
        ..., help="JSONL or CSV (optionally .gz): one row per conversation with its id and one or more label columns."
    ),
    column: list[str] = typer.Option(
        [],
        "--column",
        "-c",
        help="A label column to score against (repeatable); default: every plain column but the id.",
    ),
    id_column: str | None = typer.Option(
        None, "--id-column", help="The id column (default: id, chat_id or conversation_id)."
    ),
    embedder: str = typer.Option("minilm", "--embedder", help="Embeds names and labels for the name score."),
    as_json: bool = typer.Option(False, "--json", help="Print the scorecard as JSON."),
) -> None:
    """Score every level of a run against labels: NMI, AMI, ARI, homogeneity, completeness,
    purity, how often a cluster's name identifies its members' label (name score), and how often it
    identifies the cluster's most common label (names right)."""
    from kura.analysis.scorecard import scorecard

    card = scorecard(run_dir, labels, columns=column or None, id_column=id_column, embedder=embedder)
    if as_json:
        sys.stdout.write(json.dumps(card.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    out.print(
        f"{escape(card.run)}: {card.matched:,} of its {card.run_conversations:,} conversations are labelled "
        f"in {escape(card.labels_file)} ({card.labelled:,} labelled ids); names embedded with {escape(card.embedder)}",
        highlight=False,
    )
    for name, rows in card.scores.items():
        table = Table(
            "level",
            "clusters",
            "NMI",
            "AMI",
            "ARI",
            "homogeneity",
            "completeness",
            "purity",
            "name score",
            "names right",
            title=f"against {escape(name)} ({rows[0].labels:,} labels; name score by chance {rows[0].chance:.3f})",
            title_justify="left",
        )
        chosen = card.name_level(name)
        for s in rows:
            mark = "[bold]" if chosen is not None and s.level == chosen.level else ""
            table.add_row(
                f"{s.level} {s.role}".strip(),
                f"{s.clusters:,}",
                *(f"{v:.3f}" for v in (s.nmi, s.ami, s.ari, s.homogeneity, s.completeness, s.purity)),
                f"{mark}{s.name_score:.3f}",
                f"{mark}{s.names_right:.3f}",
            )
        out.print(table)
        if chosen is not None:
            out.print(
                f"Name score at the coarsest level with at least as many clusters as labels (level {chosen.level}, "
                f"{chosen.clusters:,} clusters): [bold]{chosen.name_score:.3f}[/] (purity {chosen.purity:.3f} is its "
                f"ceiling); names right {chosen.names_right:.3f}",
                highlight=False,
            )


def register(app: typer.Typer) -> None:
    """Add ``eval`` to the ``kura`` command."""
    app.command(name="eval")(eval_command)
