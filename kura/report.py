"""``kura report``: one self-contained HTML file of a run, to attach to an e-mail or a ticket.

The file holds the explorer's own page (kura/web) with every script, style and byte of data
inline, and the same payloads the server's API returns, so it shows the same views with no
server and no network. The data sits in a ``<script type="application/json">`` element with
every ``<`` escaped, and the page renders all text as text (see tests/web/test_security.py).

A run made with ``--privacy strict`` is reported without its raw conversation text (summaries,
clusters and the privacy counts only), unless ``allow_raw_text`` asks for it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kura.errors import InputError
from kura.server.assets import report_page
from kura.server.outcomes import outcomes_payload
from kura.server.rundata import ROW_FIELDS, RunData
from kura.store.run import is_run_dir

#: Increase when the embedded layout changes (web/sources.js checks it).
FORMAT = 1


def report_data(run: RunData) -> dict[str, Any]:
    """Everything the page needs, as the API would return it, plus rows and messages (None for
    each row when the run's raw text is not to be shown: see :attr:`RunData.serves_raw_text`)."""
    columns = [c for c in ROW_FIELDS if c in run.table.column_names]
    rows: dict[str, list[Any]] = {c: run.table.column(c).to_pylist() for c in columns}
    rows["metadata"] = [json.loads(m) if m else {} for m in run.table.column("metadata").to_pylist()]
    rows["created_at"] = [run.created_at.get(c) for c in run.chat_ids]
    messages: list[Any] = [None] * run.size
    for record in run.iter_conversations() if run.serves_raw_text else ():
        row = run.row_of.get(record["chat_id"])
        if row is not None:
            messages[row] = [[m.get("role"), m.get("content") or ""] for m in record.get("messages", [])]
    return {
        "format": FORMAT,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "overview": run.overview(),
        "outcomes": outcomes_payload(run),
        "columns": json.loads(run.columns_json()),
        "rows": rows,
        "paths": run.table.column("cluster_path").to_pylist(),
        "messages": messages,
    }


def build_report(
    run_dir: str | Path, out: str | Path, *, title: str | None = None, allow_raw_text: bool = False
) -> Path:
    """Write the report of the run at ``run_dir`` to ``out``; returns the path written.

    ``allow_raw_text``: include the conversations of a ``--privacy strict`` run too."""
    run_dir = Path(run_dir).resolve()
    if not is_run_dir(run_dir):
        runs = sorted(p.name for p in run_dir.iterdir() if is_run_dir(p)) if run_dir.is_dir() else []
        if runs:
            raise InputError(
                f"holds several runs ({', '.join(runs[:5])}): pick one, e.g. `kura report {run_dir / runs[0]}`",
                path=str(run_dir),
            )
        raise InputError(
            "is not a Kura run directory (no run.json): run `kura run INPUT --out DIR` first", path=str(run_dir)
        )
    run = RunData.load(run_dir.name, run_dir, allow_raw_text=allow_raw_text)
    page = report_page(report_data(run), title=title or f"Kura report: {run.name}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(out)
    return out
