"""Withholding audited clusters, and the run's privacy report (``privacy.json``).

The report is assembled from what each stage recorded (``StageRecord.details``), so it stays
true when a stage is reused from an earlier run. It holds counts and cluster ids only: never a
withheld cluster's name or the auditor's reason, which may repeat what made it identifying.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from kura.privacy.policy import PrivacyPolicy
from kura.types import Cluster, ConversationSummary
from kura.types.tree import ClusterTree

NO_AUDITOR = "no language model to audit with: give --auditor MODEL or --llm MODEL"
WEAK_AUDITOR = (
    "the local model rates clusters at about chance (bench/bench_audit.py): "
    "give --auditor MODEL with a stronger model, or --auditor local to audit anyway"
)
_PLACEHOLDER = re.compile(r"\[([A-Z][A-Z_]+)\]")


def count_placeholders(texts: Iterable[str | None]) -> dict[str, int]:
    """Typed placeholders (``[NAME]``, ``[EMAIL]``...) in the texts, by kind."""
    from kura.privacy.scrub import PLACEHOLDERS

    kinds = {placeholder.strip("[]"): kind for kind, placeholder in PLACEHOLDERS.items()}
    found: Counter[str] = Counter()
    for text in texts:
        for match in _PLACEHOLDER.finditer(text or ""):
            if match.group(1) in kinds:
                found[kinds[match.group(1)]] += 1
    return dict(sorted(found.items()))


def summary_texts(summary: ConversationSummary) -> Iterator[str]:
    for value in summary.model_dump(exclude={"chat_id", "metadata", "embedding"}).values():
        if isinstance(value, str):
            yield value
        elif isinstance(value, list):
            yield from (v for v in value if isinstance(v, str))


async def audit_tree(
    policy: PrivacyPolicy, tree: list[Cluster], summaries: Sequence[ConversationSummary], vectors: np.ndarray
) -> tuple[list[Cluster], dict[str, Any]]:
    """Every cluster rated by the auditor; the ones it withholds (and their subtrees and
    conversations) removed. A cluster whose audit failed is withheld too: never passed unseen."""
    if policy.auditor is None:
        return tree, {"skipped": policy.no_auditor_reason or NO_AUDITOR}
    from kura.privacy.audit import AuditItem

    row_of = {s.chat_id: i for i, s in enumerate(summaries)}
    items = []
    for cluster in tree:
        rows = np.array([row_of[c] for c in cluster.chat_ids if c in row_of], dtype=np.int64)
        centroid = vectors[rows].mean(axis=0) if len(rows) else np.zeros(vectors.shape[1])
        typical = rows[np.argsort(-(vectors[rows] @ centroid), kind="stable")] if len(rows) else rows
        items.append(
            AuditItem(
                cluster_id=cluster.id,
                name=cluster.name,
                description=cluster.description,
                summaries=[summaries[int(i)].summary for i in typical[: policy.auditor.samples]],
            )
        )
    results = await policy.auditor.audit(items)
    withheld = {r.cluster_id: r for r in results if r.withheld}
    kept, removed = withhold(tree, withheld)
    return kept, {
        "model": policy.auditor.llm.name,
        "threshold": policy.auditor.threshold,
        "audited": len(results),
        "failed": sum(1 for r in results if r.error is not None),
        "ratings": dict(sorted(Counter(r.rating for r in results if r.rating is not None).items())),
        "withheld": [
            {"cluster_id": cid, "rating": r.rating, "failed": r.error is not None, "conversations": removed[cid]}
            for cid, r in withheld.items()
            if cid in removed
        ],
    }


def withhold(tree: list[Cluster], cluster_ids: Mapping[str, Any]) -> tuple[list[Cluster], dict[str, int]]:
    """The tree without the given clusters, their descendants and their conversations (removed
    from every ancestor too); an ancestor left empty goes as well. Returns the conversations
    removed under each withheld cluster that was not already inside another withheld one."""
    index = ClusterTree(tree)
    removed: dict[str, int] = {}
    gone: set[str] = set()
    for cid in cluster_ids:
        if cid not in index or any(a.id in cluster_ids for a in index.path(cid)[:-1]):
            continue  # inside a withheld ancestor: counted there
        removed[cid] = len(index[cid].chat_ids)
        gone.update(index[cid].chat_ids)
    dropped = {c.id for c in tree if any(a.id in cluster_ids for a in index.path(c.id))}
    kept = []
    for cluster in tree:
        if cluster.id in dropped:
            continue
        left = [c for c in cluster.chat_ids if c not in gone]
        if left:
            kept.append(cluster.model_copy(update={"chat_ids": left}))
    return kept, removed


def privacy_report(policy: PrivacyPolicy, details: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``privacy.json``: what was scrubbed, merged and withheld, from the stages' records."""
    if policy.profile == "off" and not (policy.enforces_minimums or policy.auditor is not None):
        return {"profile": "off"}
    clusters, hierarchy = details.get("clusters", {}), details.get("hierarchy", {})
    audit = hierarchy.get("audit", {"skipped": NO_AUDITOR})
    withheld = audit.get("withheld", [])
    scrubbed_clusters = Counter(clusters.get("scrubbed", {})) + Counter(hierarchy.get("scrubbed", {}))
    return {
        "profile": policy.profile,
        "scrubbed": {
            "summaries": details.get("summarise", {}).get("scrubbed", {}),
            "clusters": dict(sorted(scrubbed_clusters.items())),
        }
        if policy.scrubber
        else None,
        "scrubber": policy.scrubber,
        "min_conversations": policy.min_conversations,
        "min_users": policy.min_users,
        "user_field": policy.user_field,
        "users_known": clusters.get("users_known", False),
        "merged": clusters.get("merged", {"clusters": 0, "conversations": 0}),
        "audit": audit,
        "withheld": {"clusters": len(withheld), "conversations": sum(w["conversations"] for w in withheld)},
        "raw_text_kept": policy.keep_raw,
    }


def privacy_line(report: Mapping[str, Any]) -> str:
    """One line for the end of ``kura run``: the profile, and what it did."""
    if report.get("profile", "off") == "off" and "merged" not in report:
        return "Privacy: off (the default): summaries and names may hold personal data; --privacy strict filters them"
    parts = [f"Privacy: {report.get('profile', 'off')}"]
    scrubbed = report.get("scrubbed") or {}
    found = Counter(scrubbed.get("summaries", {})) + Counter(scrubbed.get("clusters", {}))
    if report.get("scrubber"):
        kinds = ", ".join(f"{kind} {n}" for kind, n in found.most_common())
        parts.append(f"{sum(found.values())} personal details scrubbed" + (f" ({kinds})" if kinds else ""))
    merged = report.get("merged", {})
    parts.append(
        f"clusters of at least {report.get('min_conversations')} conversations"
        + (f" and {report.get('min_users')} users" if report.get("users_known") else " (no user ids to count users)")
        + f": {merged.get('clusters', 0)} small ones merged"
    )
    audit = report.get("audit", {})
    if "skipped" in audit and report.get("profile") != "strict":
        pass  # no auditor was asked for
    elif "skipped" in audit:
        parts.append(f"not audited ({audit['skipped']})")
    else:
        withheld = report.get("withheld", {})
        parts.append(
            f"audited by {audit.get('model')}: {withheld.get('clusters', 0)} clusters withheld "
            f"({withheld.get('conversations', 0)} conversations)"
        )
    parts.append("conversation text kept" if report.get("raw_text_kept") else "conversation text not kept")
    return " · ".join(parts)
