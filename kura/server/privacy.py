"""What the explorer and the report may show of a run made with ``kura run --privacy strict``.

A strict run's summaries and cluster names are scrubbed, but the conversations themselves may
still sit in ``conversations.jsonl`` (``--keep-raw``). The explorer never serves that raw text
(the conversation view, search over messages) unless the server was started with
``kura serve --allow-raw-text``; ``kura report`` leaves it out unless asked the same way.
Runs made with ``--privacy off`` (or before the option existed) are shown as they always were.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kura.errors import InputError, KuraError
from kura.store import artifacts

STRICT = "strict"
OFF = "off"

ALLOW_FLAG = "--allow-raw-text"


def profile_of(meta: dict[str, Any]) -> str:
    """The profile run.json records (``config.privacy``); runs made before the option: off."""
    return str((meta.get("config") or {}).get("privacy") or OFF)


def privacy_report(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """``privacy.json`` of the run at ``path``, or ``{"profile": ...}`` from run.json without one.

    The profile is the stricter of the two records, so a run.json that says strict is never
    shown as unfiltered because its report says otherwise (or is missing)."""
    file = path / artifacts.PRIVACY_REPORT.file
    report: dict[str, Any] = {}
    if file.exists():
        try:
            report = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(
                f"unreadable ({exc}): run `kura run` on this run again to rewrite it", path=str(file)
            ) from None
        if not isinstance(report, dict):
            raise InputError(
                "should hold a JSON object: run `kura run` on this run again to rewrite it", path=str(file)
            )
    recorded = profile_of(meta)
    profile = STRICT if STRICT in (recorded, report.get("profile")) else str(report.get("profile") or recorded)
    return {**report, "profile": profile}


class RawTextWithheld(KuraError):
    """Raw conversation text of a strict run was asked for, and this server does not serve it."""

    def __init__(self, run: str):
        super().__init__(
            f"run {run!r} was made with --privacy strict, so its raw conversation text is not served: "
            f"start the server with `kura serve {ALLOW_FLAG}` to allow it"
        )
