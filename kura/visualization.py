"""Terminal views of the cluster tree (Kura 0.5's ``visualise_*`` functions and styles).

Names come from conversations, so they are printed as plain text, never as rich markup.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.text import Text
from rich.tree import Tree

from kura.types import Cluster
from kura.types.tree import ClusterTree

Style = Literal["basic", "enhanced", "rich"]


def render_tree(
    clusters: Sequence[Cluster], *, style: Literal["basic", "enhanced"] = "basic", max_depth: int | None = None
) -> str:
    """The tree as plain text: ``basic`` is Kura 0.5's, ``enhanced`` adds shares and bars."""
    tree = ClusterTree(clusters)
    total = sum(len(r.chat_ids) for r in tree.roots) or 1
    lines = [f"Clusters ({total:,} conversations)"]

    def walk(node: Cluster, prefix: str, last: bool, depth: int) -> None:
        count = len(node.chat_ids)
        share = count / total
        label = f"{node.name} ({count:,} conversations)"
        if style == "enhanced":
            bar = "█" * max(1, round(share * 20))
            label = f"{node.name}  {count:,} ({share:.1%}) {bar}"
        lines.append(prefix + ("╚══ " if last else "╠══ ") + label)
        if max_depth is not None and depth >= max_depth:
            return
        child_prefix = prefix + ("    " if last else "║   ")
        children = tree.children(node.id)
        for i, child in enumerate(children):
            walk(child, child_prefix, i == len(children) - 1, depth + 1)

    for i, root in enumerate(tree.roots):
        walk(root, "", i == len(tree.roots) - 1, 1)
    return "\n".join(lines)


def rich_tree(
    clusters: Sequence[Cluster],
    *,
    max_depth: int | None = None,
    title: str | None = None,
    descriptions: bool = False,
    notes: Mapping[str, Text] | None = None,
) -> Tree:
    """A rich ``Tree`` with counts and shares, colour by level; ``notes`` adds a column per
    cluster id (an outcome's value, see ``kura tree --outcome``)."""
    tree = ClusterTree(clusters)
    total = sum(len(r.chat_ids) for r in tree.roots) or 1
    colours = ["bold bright_cyan", "bright_green", "bright_yellow", "bright_magenta", "bright_blue"]
    view = Tree(Text(title or f"All conversations ({total:,})", style="bold"))

    def add(parent: Tree, node: Cluster, depth: int) -> None:
        label = Text(node.name, style=colours[min(depth - 1, len(colours) - 1)])
        label.append(f"  {len(node.chat_ids):,}", style="bold")
        label.append(f" ({len(node.chat_ids) / total:.1%})", style="dim")
        if notes is not None and node.id in notes:
            label.append("  ").append_text(notes[node.id])
        if descriptions and node.description:
            label.append("\n" + node.description, style="dim italic")
        branch = parent.add(label)
        if max_depth is None or depth < max_depth:
            for child in tree.children(node.id):
                add(branch, child, depth + 1)

    for root in tree.roots:
        add(view, root, 1)
    return view


def _load_clusters_from_checkpoint(checkpoint_path: str | Path) -> list[Cluster]:
    path = Path(checkpoint_path)
    if path.is_dir():
        path = path / "meta_clusters.jsonl"
    if not path.exists() and path.suffix != ".jsonl":
        path = path.with_name(path.name + ".jsonl")
    with open(path, encoding="utf-8") as f:
        return [Cluster.model_validate_json(line) for line in f if line.strip()]


def _clusters(clusters: Sequence[Cluster] | None, checkpoint_path: str | Path | None) -> Sequence[Cluster]:
    if clusters is not None:
        return clusters
    if checkpoint_path is None:
        raise ValueError("Either clusters or checkpoint_path must be provided")
    return _load_clusters_from_checkpoint(checkpoint_path)


def visualise_clusters(clusters: Sequence[Cluster] | None = None, *, checkpoint_path: str | Path | None = None) -> None:
    print(render_tree(_clusters(clusters, checkpoint_path), style="basic"))


def visualise_clusters_enhanced(
    clusters: Sequence[Cluster] | None = None, *, checkpoint_path: str | Path | None = None
) -> None:
    clusters = _clusters(clusters, checkpoint_path)
    print(render_tree(clusters, style="enhanced"))
    roots = [c for c in clusters if not c.parent_id]
    total = sum(len(c.chat_ids) for c in roots)
    print(f"\n{len(clusters)} clusters, {len(roots)} at the top, {total:,} conversations")


def visualise_clusters_rich(
    clusters: Sequence[Cluster] | None = None,
    *,
    checkpoint_path: str | Path | None = None,
    console: Console | None = None,
) -> None:
    (console or Console()).print(rich_tree(_clusters(clusters, checkpoint_path)))


def visualise_pipeline_results(
    clusters: Sequence[Cluster], *, style: Style = "enhanced", console: Console | None = None
) -> None:
    """Print the tree of a pipeline's result in one of Kura 0.5's styles."""
    if style == "basic":
        visualise_clusters(clusters)
    elif style == "enhanced":
        visualise_clusters_enhanced(clusters)
    elif style == "rich":
        visualise_clusters_rich(clusters, console=console)
    else:
        raise ValueError(f"Invalid style '{style}'. Must be one of: basic, enhanced, rich")


def visualise_from_checkpoint_manager(
    checkpoint_manager: Any, meta_cluster_model: Any, *, style: Style = "basic", console: Console | None = None
) -> None:
    filename = getattr(meta_cluster_model, "checkpoint_filename", "meta_clusters")
    clusters = checkpoint_manager.load_checkpoint(filename, Cluster)
    if not clusters:
        raise ValueError(f"no clusters in checkpoint {filename!r} of {checkpoint_manager.checkpoint_dir}")
    visualise_pipeline_results(clusters, style=style, console=console)


def tree_json(clusters: Sequence[Cluster]) -> str:
    """The tree as nested JSON (for scripts)."""
    tree = ClusterTree(clusters)

    def dump(node: Cluster) -> dict:
        return {
            "id": node.id,
            "name": node.name,
            "count": len(node.chat_ids),
            "children": [dump(c) for c in tree.children(node.id)],
        }

    return json.dumps([dump(r) for r in tree.roots], indent=2, ensure_ascii=False)
